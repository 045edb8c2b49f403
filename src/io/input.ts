/** Where a command's input comes from: a file, or stdin for "-". */
import { createReadStream } from 'node:fs';
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
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  // Commands open the store or the output before they pipe this: an open error meanwhile must wait for the
  // pipeline (which finds it in stream.errored and reports it), not crash the process as an unhandled 'error'.
  stream.on('error', () => {});
  return { stream, size };
}
