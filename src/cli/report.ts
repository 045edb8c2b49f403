import { printable, UNPRINTABLE } from '../errors.js';

/**
 * All that the CLI says goes through here: results and the --json document on
 * stdout, summaries, warnings and errors on stderr, and the one progress line.
 * Because every write passes through say(), the progress line is cleared
 * before any other output and nothing lands on it. A closed stdout (the
 * reader of a pipe went away: `rootfs images | head -1`) makes further
 * results silent instead of crashing the process.
 */
import { feedsAnotherRootfs } from './pipeline.js';
import { formatBytes } from './size.js';

/** What a long command has done so far; the reporter adds rate, percent and ETA. */
export interface Progress {
  /** What is being done: "packing", "importing root.tar", "squash: reading layer 2 of 5". */
  label: string;
  /** Bytes done (read or written, as the label says). */
  bytes?: number;
  /** Bytes there will be in all, when known: gives percent and ETA. */
  total?: number;
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
  clearLine();
  if (stream === 'stdout' && line.stdoutClosed) return;
  process[stream].write(text);
}

function clearLine(): void {
  // Quiet in a pipeline (see pipeline.ts), this process still writes onto the line the last rootfs draws: clear it too.
  if (!line.shown && !(process.stderr.isTTY && feedsAnotherRootfs())) return;
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
  private samples: Array<{ at: number; bytes: number }> = [];
  private sampledLabel = '';
  warnings = 0;
  private readonly warned = new Set<string>();

  constructor(opts: { quiet: boolean; json: boolean }) {
    this.quiet = opts.quiet;
    this.json = opts.json;
    this.tty = Boolean(process.stderr.isTTY) && !opts.quiet;
  }

  warn(message: string): void {
    this.warnings++;
    say('stderr', `rootfs: warning: ${printable(message)}\n`);
  }

  /** warn(), but a message already given is not given again (a layer read twice, once to plan and once to write). */
  warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.warn(message);
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
   * draws, so the job has one line).
   */
  progress(state: Progress): void {
    if (!this.tty) return;
    const now = Date.now();
    // A new label (the next layer, the next phase) is drawn at once: it says what the command is doing now.
    if (now - this.lastDraw < 100 && state.label === this.drawnLabel) return;
    this.lastDraw = now;
    this.drawnLabel = state.label;
    if (feedsAnotherRootfs()) return;
    const columns = process.stderr.columns || 80;
    clearLine();
    process.stderr.write(printable(this.render(state, now)).slice(0, columns - 1));
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
  }

  /** "label: 1.20GB of 4.00GB (30%), 45.0MB/s, ETA 1m02s, 12345 entries, note" */
  private render(state: Progress, now: number): string {
    const parts: string[] = [];
    if (state.bytes !== undefined) {
      const rate = this.rate(state.label, state.bytes, now);
      if (state.total !== undefined && state.total > 0) {
        const percent = Math.min(99, Math.floor((state.bytes * 100) / state.total));
        parts.push(`${formatBytes(state.bytes)} of ${formatBytes(state.total)} (${percent}%)`);
        parts.push(`${formatBytes(rate)}/s`);
        if (rate > 0) parts.push(`ETA ${formatDuration(Math.max(0, state.total - state.bytes) / rate)}`);
      } else {
        parts.push(formatBytes(state.bytes), `${formatBytes(rate)}/s`);
      }
    }
    if (state.entries !== undefined) parts.push(`${state.entries} ${state.entries === 1 ? 'entry' : 'entries'}`);
    if (state.note !== undefined) parts.push(state.note);
    return `${state.label}: ${parts.join(', ')}`;
  }

  /** Bytes a second over the last 5 seconds (a new label or fewer bytes starts over). */
  private rate(label: string, bytes: number, now: number): number {
    const last = this.samples.at(-1);
    if (label !== this.sampledLabel || (last && bytes < last.bytes)) this.samples = [];
    this.sampledLabel = label;
    this.samples.push({ at: now, bytes });
    while (this.samples.length > 2 && now - this.samples[0]!.at > 5000) this.samples.shift();
    const first = this.samples[0]!;
    return now > first.at ? ((bytes - first.bytes) * 1000) / (now - first.at) : 0;
  }
}

// Sizes in messages come from the one formatter that matches how sizes are typed (cli/size.ts).
export { formatBytes };

/** "45s", "3m05s", "2h07m". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
