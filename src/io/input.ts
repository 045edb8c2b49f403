/** Where a command's input comes from: a file, or stdin for "-". */
import { closeSync, constants, createReadStream, openSync, type ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fromFsError, UsageError } from '../errors.js';
import { refuseTerminal } from './output.js';

export interface Input {
  stream: Readable;
  /** Known for a regular file; undefined for stdin, pipes and devices. */
  size: number | undefined;
}

/** FILE's size if it is a regular file (a total for progress); undefined otherwise, and for any error, which the command reading FILE reports. */
export async function fileSize(file: string): Promise<number | undefined> {
  try {
    const info = await stat(file);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens FILE, or stdin for "-" (never a terminal). `what` names the input in
 * errors; `ifDirectory` says what to do instead when FILE is a directory.
 */
export async function openInput(file: string, what: string, ifDirectory: string): Promise<Input> {
  if (file === '-') {
    refuseTerminal('stdin', what);
    return { stream: process.stdin, size: undefined };
  }
  let size: number | undefined;
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new UsageError(`${file} is a directory; ${ifDirectory}`);
    size = info.isFile() ? info.size : undefined;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw fromFsError(err, file);
  }
  const stream = openFileStream(file, size === undefined, 1 << 20);
  // Commands open the store or the output before they pipe this: an open error meanwhile must wait for the
  // pipeline (which finds it in stream.errored and reports it), not crash the process as an unhandled 'error'.
  stream.on('error', () => {});
  return { stream, size };
}

/** FIFOs whose open(2) has not returned yet: it blocks, in a libuv worker thread, until a writer comes. */
const blockedOpens = new Set<string>();

/**
 * A stream of FILE's bytes. mayBlock (FILE is not a regular file: a FIFO, a
 * device) records the path until the open returns, so that an interrupt can
 * release it: a worker thread stuck in open(2) would otherwise keep the
 * process from exiting, and Ctrl-C on `load -i FIFO` with no writer would do nothing.
 */
export function openFileStream(file: string, mayBlock: boolean, highWaterMark?: number): ReadStream {
  const stream = createReadStream(file, highWaterMark === undefined ? {} : { highWaterMark });
  if (mayBlock) {
    blockedOpens.add(file);
    const opened = (): void => void blockedOpens.delete(file);
    stream.once('open', opened).once('error', opened).once('close', opened);
  }
  return stream;
}

/**
 * Lets every blocked FIFO open return, for a process about to exit: opening
 * the FIFO's write end (without blocking: a reader is waiting) completes the
 * reader's open, and closing it gives that reader end of file.
 */
export function releaseBlockedOpens(): void {
  for (const file of blockedOpens) {
    try {
      closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // Not a FIFO after all (a device), or gone: nothing to release.
    }
  }
  blockedOpens.clear();
}
