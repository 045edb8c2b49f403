/**
 * The one way to read a small file we parse (index.json, oci-layout, a
 * manifest or config in a layout, a part manifest, a have file, credentials,
 * a preset, an exclude file), and to open a file whose bytes we stream (a
 * layout's blob): it must be a regular file, judged on the open descriptor
 * (a stat of the path can be raced, and says size 0 for /dev/zero), and a
 * read stops at the cap by bytes actually read, so a device or a file that
 * grows cannot fill memory. A FIFO is opened non-blocking so that opening it
 * cannot hang before it is refused.
 */
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fromFsError, InvalidInputError } from '../errors.js';

/** Image metadata documents (manifests, configs, indexes, oci-layout) larger than this are refused rather than buffered. */
export const metadataSizeCap = 8 * 1024 * 1024;

/**
 * Opens path for reading if it is a regular file; anything else (a FIFO, a
 * device, a socket, a directory) is refused as bad input naming the path.
 */
export async function openRegular(path: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, openFlags);
    return { handle, size: checkRegular(await handle.stat(), path) };
  } catch (err) {
    await handle?.close();
    throw openError(err, path);
  }
}

const openFlags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function checkRegular(info: Stats, path: string): number {
  if (!info.isFile()) throw new InvalidInputError(path, `not a regular file (${fileKind(info)})`);
  return info.size;
}

function openError(err: unknown, path: string): unknown {
  return err instanceof InvalidInputError ? err : fromFsError(err, path);
}

function tooLarge(path: string, cap: number, what: string): InvalidInputError {
  return new InvalidInputError(path, `larger than ${cap} bytes: not ${what}`);
}

/**
 * The whole of a small regular file, at most cap bytes; a larger one is
 * refused as not being what `what` says ("an image metadata document").
 * A missing file is NotFoundError (its cause keeps ENOENT).
 */
export async function readMetadata(path: string, cap: number, what = 'an image metadata document'): Promise<Buffer> {
  const { handle } = await openRegular(path);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, cap + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > cap) throw tooLarge(path, cap, what);
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    throw openError(err, path);
  } finally {
    await handle.close();
  }
}

/** readMetadata for the few synchronous callers (presets and exclude files, read while flags are parsed). */
export function readMetadataSync(path: string, cap: number, what = 'an image metadata document'): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(path, openFlags);
    checkRegular(fstatSync(fd), path);
    const buffer = Buffer.allocUnsafe(cap + 1);
    let total = 0;
    for (let n; total <= cap && (n = readSync(fd, buffer, total, cap + 1 - total, null)) > 0; ) total += n;
    if (total > cap) throw tooLarge(path, cap, what);
    return buffer.subarray(0, total);
  } catch (err) {
    throw openError(err, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** readMetadata, or undefined when the file does not exist. */
export async function readMetadataIfExists(path: string, cap: number, what?: string): Promise<Buffer | undefined> {
  try {
    return await readMetadata(path, cap, what);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** True for the error readMetadata and openRegular raise for a path that does not exist. */
export function isMissing(err: unknown): boolean {
  return err instanceof Error && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * A regular file's bytes as a stream, never more than limit + 1 of them (one
 * more than a descriptor promises, so a longer file is still seen to be too
 * long, not read for ever), and its size when opened.
 */
export async function openRegularStream(path: string, limit?: number): Promise<{ stream: Readable; size: number }> {
  const { handle, size } = await openRegular(path);
  return { stream: createReadStream('', { fd: handle, highWaterMark: 1 << 20, ...(limit === undefined ? {} : { end: limit }) }), size };
}

function fileKind(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  if (info.isDirectory()) return 'a directory';
  return 'not a file';
}

/** Whether path names anything (a dangling symlink too): false for ENOENT, any other error thrown naming it. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fromFsError(err, path);
  }
}
