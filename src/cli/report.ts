import { printable, UNPRINTABLE } from '../errors.js';

/**
 * All that the CLI says goes through here: results and the --json document on
 * stdout, summaries, warnings and errors on stderr, and the one progress line.
 * Because every write passes through say(), the progress line is cleared
 * before any other output and nothing lands on it. A closed stdout (the
 * reader of a pipe went away: `rootfs images | head -1`) makes further
 * results silent instead of crashing the process.
 */
import type { PlanOptions } from '../layers/plan.js';
import { drawsHere, feedsAnotherRootfs, handTotalOn, totalHandedIn, withdrawTotal, type StreamTotal } from './pipeline.js';
import { formatBytes } from './size.js';
import { count } from '../text.js';

/** What a long command has done so far; the reporter adds rate, percent and ETA. */
export interface Progress {
  /** What is being done: "packing", "importing root.tar", "squash: reading layer 2 of 5". */
  label: string;
  /** Bytes done (read or written, as the label says). */
  bytes?: number;
  /** Bytes there will be in all, when known: gives percent and ETA. */
  total?: number;
  /** The total is an estimate (pack's statfs): shown as `~TOTAL (est.)`, never past 99%. */
  estimated?: boolean;
  /** What stdout will carry in all, handed on to a rootfs reading it there (cli/pipeline.ts). */
  toStdout?: StreamTotal;
  /** The bytes are those read from stdin: without a total, the rootfs writing into it may have handed one on. */
  fromStdin?: boolean;
  /** Tar entries so far, for tar work. */
  entries?: number;
  /** Anything else worth a glance ("3 blobs"). */
  note?: string;
}

const line = { shown: false, stdoutClosed: false };

process.stdout.on('error', () => {
  // EPIPE and the like: the reader is gone. A command writing data to stdout sees the error itself (its pipeline fails).
  line.stdoutClosed = true;
});
process.stderr.on('error', () => {});

function say(stream: 'stdout' | 'stderr', text: string): void {
  clearLine(stream === 'stderr');
  if (stream === 'stdout' && line.stdoutClosed) return;
  process[stream].write(text);
}

function clearLine(toTerminal = false): void {
  // Quiet in a pipeline (see pipeline.ts), this process still writes onto the line the last rootfs draws: clear it too.
  // Asked afresh (a tenth of a second): a command that ends soon after it starts may have asked before its reader ran.
  if (!line.shown && !(toTerminal && process.stderr.isTTY && feedsAnotherRootfs(100))) return;
  line.shown = false;
  process.stderr.write('\r\x1b[K');
}

/** A line on stderr from outside a command (the error handler, an interrupt). */
export function writeError(text: string): void {
  say('stderr', text.endsWith('\n') ? text : `${text}\n`);
}

export class Reporter {
  readonly quiet: boolean;
  readonly json: boolean;
  private readonly tty: boolean;
  private lastDraw = 0;
  private drawnLabel = '';
  private drawnEstimate = false;
  /** Where the rate is measured from: the first bytes seen under the current label. */
  private since: { label: string; at: number; bytes: number } | undefined;
  warnings = 0;
  private readonly warned = new Set<string>();

  constructor(opts: { quiet: boolean; json: boolean }) {
    this.quiet = opts.quiet;
    this.json = opts.json;
    this.tty = Boolean(process.stderr.isTTY) && !opts.quiet;
  }

  warn(message: string): void {
    this.warnings++;
    this.notice(message);
  }

  /** A warning that leaves the exit status alone, as GNU tar's for what --one-file-system leaves out. */
  notice(message: string): void {
    say('stderr', `rootfs: warning: ${printable(message)}\n`);
  }

  /** warn(), but a message already given is not given again (a layer read twice, once to plan and once to write). */
  warnOnce(message: string): void {
    if (this.firstTime(message)) this.warn(message);
  }

  /** notice(), given once however often it comes (a layer two images share, or read to plan and to write). */
  noticeOnce(message: string): void {
    if (this.firstTime(message)) this.notice(message);
  }

  private firstTime(message: string): boolean {
    if (this.warned.has(message)) return false;
    this.warned.add(message);
    return true;
  }

  /** A human line on stderr (summaries); silent with --quiet or --json. */
  info(message: string): void {
    if (this.quiet || this.json) return;
    say('stderr', `${printable(message)}\n`);
  }

  /**
   * A result line on stdout (an image ID, "Loaded image: …"), the part scripts
   * read. Control characters are escaped as in messages (printable), all but
   * the line breaks and tabs the caller put there (a table, a template); a
   * listing escapes each name and text from input with printable() itself,
   * so that one holding a newline cannot forge a line.
   */
  result(line: string): void {
    if (this.json) return;
    say('stdout', `${line.replace(/[^\n\t]+/g, printable)}\n`);
  }

  /** A JSON document for people on stdout (config, inspect): exact JSON, with the characters printable() escapes as \u escapes. */
  resultJson(value: unknown): void {
    // JSON.stringify escapes C0 controls itself; its own line breaks are the indentation.
    this.result(JSON.stringify(value, null, 2).replace(/[^\n]+/g, (text) => text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)));
  }

  /** The --json document, on stdout (or stderr, when stdout carries an archive). */
  emitJson(value: unknown, stream: 'stdout' | 'stderr' = 'stdout'): void {
    if (this.json) say(stream, `${JSON.stringify(value, null, 2)}\n`);
  }

  /**
   * Redraws the progress line at most 10 times a second, only on a terminal,
   * and not when stdout feeds another rootfs (`pack | import`: the last one
   * draws, so the job has one line; this one hands it its total).
   */
  progress(state: Progress): void {
    const now = Date.now();
    // A new label (the next layer, the next phase) is drawn at once: it says what the command is doing now; so is a total that stopped being an estimate.
    if (now - this.lastDraw < 100 && state.label === this.drawnLabel && (state.estimated ?? false) === this.drawnEstimate) return;
    this.lastDraw = now;
    this.drawnLabel = state.label;
    this.drawnEstimate = state.estimated ?? false;
    // Handed on whether or not this process has a terminal: the reader may have one.
    if (state.toStdout) handTotalOn(state.toStdout);
    if (!this.tty || !drawsHere()) return;
    if (state.fromStdin && state.total === undefined) {
      const handed = totalHandedIn();
      if (handed) state = { ...state, total: handed.total, estimated: handed.estimated };
    }
    const columns = process.stderr.columns || 80;
    clearLine();
    process.stderr.write(this.render(state, now, columns - 1));
    line.shown = true;
  }

  /** Ends the progress line with a newline (an interrupt: the last state stays visible above the message). */
  endProgress(): void {
    if (!line.shown) return;
    line.shown = false;
    process.stderr.write('\n');
  }

  close(): void {
    clearLine();
    withdrawTotal();
  }

  /**
   * "label: 1.20GiB of 4.00GiB (30%), ETA 1m02s, 45.0MiB/s, 12345 entries, note", fitted to width:
   * the numbers are what a glance needs, so a long label (a path) is shortened in its middle first,
   * then the note, the entries, the rate and the ETA go, in that order.
   */
  private render(state: Progress, now: number, width: number): string {
    const numbers: string[] = [];
    if (state.bytes !== undefined) {
      const rate = this.rate(state.label, state.bytes, now);
      const total = state.total !== undefined && state.total > 0 ? state.total : undefined;
      if (total !== undefined) {
        const percent = Math.min(99, Math.floor((state.bytes * 100) / total));
        numbers.push(state.estimated ? `${formatBytes(state.bytes)} of ~${formatBytes(total)} (est.), ${percent}%` : `${formatBytes(state.bytes)} of ${formatBytes(total)} (${percent}%)`);
        // Past an estimate, no ETA: it would be a guess dressed as a number.
        if (rate > 0 && state.bytes < total) numbers.push(`ETA ${formatDuration((total - state.bytes) / rate)}`);
      } else numbers.push(formatBytes(state.bytes));
      numbers.push(`${formatBytes(rate)}/s`);
    }
    if (state.entries !== undefined) numbers.push(`${state.entries} ${state.entries === 1 ? 'entry' : 'entries'}`);
    if (state.note !== undefined) numbers.push(printable(state.note));
    const label = printable(state.label);
    const fitted = (shown: string[]): number => width - (shown.length > 0 ? shown.join(', ').length + 2 : 0);
    // Dropped from the end while even a label cut to a few characters leaves no room: the note, entries, rate, ETA.
    while (numbers.length > 1 && fitted(numbers) < Math.min(label.length, minimumLabel)) numbers.pop();
    const text = `${shorten(label, Math.max(minimumLabel, fitted(numbers)))}${numbers.length > 0 ? `: ${numbers.join(', ')}` : ''}`;
    return text.slice(0, width);
  }

  /** Bytes a second since the label's first bytes: a whole run's average, which an ETA can trust (a new label or fewer bytes starts over). */
  private rate(label: string, bytes: number, now: number): number {
    if (!this.since || this.since.label !== label || bytes < this.since.bytes) this.since = { label, at: now, bytes };
    const { at, bytes: from } = this.since;
    return now > at ? ((bytes - from) * 1000) / (now - at) : 0;
  }
}

/** The fewest characters a shortened label keeps ("impor…t.tar"). */
const minimumLabel = 12;

/** The text, cut in its middle to width characters when longer (the start says what, the end which file). */
function shorten(text: string, width: number): string {
  if (text.length <= width) return text;
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

/**
 * The plan pass of unpack and export (every layer read, top-down, before a byte is written) as
 * progress, and the total it finds for the writing that follows, shown under `writing` at once (the
 * first member may be a large file, and the rate is measured from there).
 */
export function planProgress(reporter: Reporter, command: string, writing: string, planned: (bytes: number) => void): Required<Pick<PlanOptions, 'onLayer' | 'onPlanned'>> {
  return {
    // One label for the pass, so its rate and ETA span every layer; the plan reads from the top layer down, so the layer numbers count down.
    onLayer: ({ layer, layers, entries, bytes, total }) => reporter.progress({ label: `${command}: planning the merge`, bytes, total, note: `layer ${layer + 1} of ${layers}, ${count(entries, 'entry')}` }),
    onPlanned: ({ bytes }) => {
      planned(bytes);
      reporter.progress({ label: writing, bytes: 0, total: bytes, entries: 0 });
    },
  };
}

// Sizes in messages come from the one formatter that matches how sizes are typed (cli/size.ts).
export { formatBytes };

/** A digest as docker shows one: its first 12 hex digits. */
export function shortDigest(digest: string): string {
  const hex = digest.indexOf(':') + 1;
  return digest.slice(hex, hex + 12);
}

/** "45s", "3m05s", "2h07m". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
