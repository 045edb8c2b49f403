/**
 * The shape of a command module, apart from main.ts: every command and the
 * command list import it, and main.ts imports them, so it cannot live there
 * without an import cycle.
 */
import type { CAC } from 'cac';
import type { Reporter } from './report.js';

/** What every command's action receives besides its own arguments and flags. */
export interface GlobalOptions {
  debug?: boolean;
  quiet?: boolean;
  json?: boolean;
  store?: string;
}

/** A command module: registers itself on the CLI; its action resolves to an exit code. */
export type CommandModule = (cli: CAC, run: (action: (reporter: Reporter) => Promise<number | void>, opts: GlobalOptions) => Promise<void>) => void;
