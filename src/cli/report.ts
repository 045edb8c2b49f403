import { printable } from '../errors.js';

/**
 * All that commands say to people goes through here: warnings always reach
 * stderr, the progress line only when stderr is a terminal and not --quiet,
 * and --json sends a result object to stdout instead of human summaries.
 */
export class Reporter {
  readonly quiet: boolean;
  readonly json: boolean;
  private readonly tty: boolean;
  private progressShown = false;
  private lastDraw = 0;
  warnings = 0;

  constructor(opts: { quiet: boolean; json: boolean }) {
    this.quiet = opts.quiet;
    this.json = opts.json;
    this.tty = Boolean(process.stderr.isTTY) && !opts.quiet;
  }

  warn(message: string): void {
    this.warnings++;
    this.clearProgress();
    process.stderr.write(`rootfs: warning: ${printable(message)}\n`);
  }

  /** A human line on stderr (summaries); silent with --quiet or --json. */
  info(message: string): void {
    if (this.quiet || this.json) return;
    this.clearProgress();
    process.stderr.write(`${printable(message)}\n`);
  }

  /** A result line on stdout (an image ID, "Loaded image: …"), the part scripts read. */
  result(line: string): void {
    if (this.json) return;
    process.stdout.write(`${line}\n`);
  }

  /** The --json document on stdout. */
  emitJson(value: unknown): void {
    if (this.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Redraws the progress line at most 10 times a second; a no-op off a terminal. */
  progress(render: () => string): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const columns = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[K${printable(render()).slice(0, columns - 1)}`);
    this.progressShown = true;
  }

  close(): void {
    this.clearProgress();
  }

  private clearProgress(): void {
    if (!this.progressShown) return;
    process.stderr.write('\r\x1b[K');
    this.progressShown = false;
  }
}

const units = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Sizes the way docker prints them (decimal units). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)}${units[unit]}`;
}
