import { cac, type CAC } from 'cac';
import { ExitCode, fromFsError, isSystemError, printable, RootfsError, UsageError } from '../errors.js';
import { removeUnfinished } from '../io/temp.js';
import { releaseBlockedOpens } from '../io/input.js';
import type { GlobalOptions } from './command.js';
import { Reporter, writeError } from './report.js';
import { commandName, commandsFor, expandAliases, imageHelp, unknownCommand } from './commands.js';
import { checkUsage, fixHelp, inUsageForm, unknownOption, usageError } from './usage.js';
import { packageVersion } from './version.js';
import { interruptedLine } from './interrupted.js';


/** Runs the CLI and resolves to the process exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  const cli = cac('rootfs');
  cli.option('--debug', 'Show stack traces and internal detail on errors');
  cli.option('-q, --quiet', 'No progress or summary on stderr');
  cli.option('--json', 'The result as one JSON document on stdout (on stderr where stdout carries the data)');
  cli.option('--store <dir>', 'Image store (OCI layout); default $ROOTFS_STORE, /var/lib/rootfs as root, else ~/.local/share/rootfs');

  let exitCode: number = ExitCode.Ok;
  let debug = argv.includes('--debug');
  const run = async (action: (reporter: Reporter) => Promise<number | void>, opts: GlobalOptions): Promise<void> => {
    debug = Boolean(opts.debug);
    const reporter = new Reporter({ quiet: Boolean(opts.quiet), json: Boolean(opts.json) });
    const untrap = trapSignals(reporter, cli.matchedCommand?.name ?? 'rootfs');
    try {
      exitCode = (await action(reporter)) ?? ExitCode.Ok;
    } finally {
      untrap();
      reporter.close();
    }
  };
  try {
    const args = expandAliases(argv.slice(2));
    if (args === 'image-help') {
      process.stdout.write(imageHelp());
      return ExitCode.Ok;
    }
    for (const register of await commandsFor(args)) register(cli, run);
    cli.help(fixHelp);
    cli.version(packageVersion());
    cli.parse(disguiseForCac([...argv.slice(0, 2), ...args]), { run: false });
    restoreStdio(cli);
    if (!cli.matchedCommand) {
      // An unknown option before the command takes the command as its value (`rootfs --jsn images`): no command matched.
      // (With --help, cac matched the command and printed its help: a --no-x default of it is no typo.)
      const unknown = cli.options.help || cli.options.version ? undefined : unknownOption(cli, undefined);
      const named = cli.commands.find((command) => command.name === commandName(args));
      if (unknown) throw named ? inUsageForm(cli, named, new UsageError(unknown)) : usageError(undefined, unknown, 'rootfs COMMAND [options]');
      if (cli.args.length > 0) throw unknownCommand(cli.args[0]!);
      if (!cli.options.help && !cli.options.version) cli.outputHelp();
      return ExitCode.Ok;
    }
    if (cli.options.help) return ExitCode.Ok;
    checkUsage(cli, cli.matchedCommand);
    await cli.runMatchedCommand();
    return exitCode;
  } catch (err) {
    // Whatever part of a command found the usage error, it is reported in the one form, with that command's usage line.
    return reportError(err instanceof UsageError && cli.matchedCommand ? inUsageForm(cli, cli.matchedCommand, err) : err, debug);
  }
}

/**
 * cac's parser drops a bare "-", as an argument and as an option value
 * (`-o -` comes out as `true`), yet "-" is how every Unix tool says
 * stdin/stdout. It travels through parsing disguised, and is restored in
 * the parsed result before any action runs.
 */
const STDIO = '\u0000stdio\u0000';

/**
 * Prepares argv for cac's parser, up to a "--". Besides disguising "-", it
 * spells dashed long options in camelCase: cac tells its parser which flags
 * are boolean by their camelCase names, so `--all-platforms REF` would
 * otherwise take REF as the flag's value. (`--no-x` needs no help: the
 * parser never gives a negation a value.)
 */
export function disguiseForCac(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((arg, i) => {
    if (end !== -1 && i > end) return arg;
    if (arg === '-') return STDIO;
    const dashed = /^--(?!no-)([a-z0-9]+(?:-[a-z0-9]+)+)(=.*)?$/s.exec(arg);
    if (!dashed) return arg;
    return `--${dashed[1]!.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())}${dashed[2] ?? ''}`;
  });
}

function restoreStdio(cli: CAC): void {
  const restore = (value: unknown): unknown => (value === STDIO ? '-' : Array.isArray(value) ? value.map(restore) : value);
  cli.args = cli.args.map((arg) => restore(arg) as string);
  for (const key of Object.keys(cli.options)) cli.options[key] = restore(cli.options[key]);
}

/** The signals that end a command, and the exit code of each (128 + its number, as a shell reports a death by it). */
const signals = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Ctrl-C, kill, a closed terminal: every file the command has not finished
 * (io/temp.ts) is removed, synchronously, and the process exits at once with
 * 128 + the signal's number. The store needs nothing more: its locks are
 * flocks, which the kernel drops with the process, and its index is replaced
 * by rename, never half-written.
 */
function trapSignals(reporter: Reporter, command: string): () => void {
  const handlers = Object.entries(signals).map(([signal, code]) => {
    const handler = (): void => {
      const removed = removeUnfinished();
      releaseBlockedOpens();
      reporter.endProgress();
      writeError(interruptedLine(command, signal, removed));
      process.exit(code);
    };
    process.on(signal, handler);
    return () => void process.off(signal, handler);
  });
  return () => handlers.forEach((off) => off());
}

function reportError(err: unknown, debug: boolean): number {
  // A system error from deep in a stream (a read that failed) that nothing named: the host's trouble, not a bug.
  // Unnamed, a closed pipe can only be stdout's: the one pipe a command writes.
  if (isSystemError(err)) err = fromFsError(err, err.path ?? (err.code === 'EPIPE' ? 'stdout' : err.syscall));
  if (err instanceof RootfsError) {
    writeError(`rootfs: ${printable(err.message)}`);
    if (debug) writeError(`${err.stack}\n${err.cause instanceof Error ? `caused by: ${err.cause.stack}\n` : ''}`);
    return err.exitCode;
  }
  const stack = err instanceof Error ? err.stack : String(err);
  writeError(debug ? `rootfs: internal error: ${stack}` : `rootfs: internal error: ${printable(err instanceof Error ? err.message : String(err))} (run with --debug for details)`);
  return ExitCode.Internal;
}
