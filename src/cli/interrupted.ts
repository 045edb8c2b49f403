/**
 * The one line an interrupted command ends with (main.ts prints it). Files
 * the command had not finished are removed (io/temp.ts), so by default
 * nothing was kept; but what a registry already received cannot be taken
 * back, so a push registers what it has sent, and the line says that.
 */
let sentSoFar: (() => string) | undefined;

/** From now on, an interruption says describe() (what was sent where) instead of "nothing was kept". */
export function sayOnInterrupt(describe: () => string): void {
  sentSoFar = describe;
}

export function interruptedLine(command: string, signal: string, removedFiles: number): string {
  const removed = removedFiles > 0 ? ' (its unfinished files were removed)' : '';
  return `rootfs: ${command} interrupted by ${signal}; ${sentSoFar ? `${sentSoFar()}${removed}` : `nothing was kept${removed}`}`;
}
