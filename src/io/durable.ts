/** The few file operations that crash safety rests on. */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fromFsError, HostIoError, systemErrorText } from '../errors.js';
import { removeOnInterrupt, tempName } from './temp.js';

/** What makeDirectory made: the outermost new directory, if any, and the end of its interrupt guard. */
export interface MadeDirectory {
  made: string | undefined;
  /** The command is done with it (kept, or removed itself): an interrupt no longer removes it. */
  release: () => void;
}

/**
 * mkdir -p with one attempt per missing ancestor. Not Node's recursive mkdir:
 * where mkdir(2) says ENOENT although the parent exists (/proc, /sys, a
 * parent removed meanwhile) it retries forever. A directory that cannot be
 * made is a host error (5) naming it, never "not found". mode is before the umask.
 * With guard, for a command that must leave no trace, the outermost
 * directory made is registered for removal on interrupt before its mkdir
 * (an interrupt landing right after the mkdir, before any code of ours
 * runs, still finds it); the command removes `made` if it fails, and calls
 * release when done.
 */
export async function makeDirectory(path: string, mode = 0o755, guard = false): Promise<MadeDirectory> {
  const missing: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      if ((await stat(dir)).isDirectory()) break;
      throw new HostIoError(`${dir}: not a directory`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, dir);
    }
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  let made: string | undefined;
  let release = (): void => {};
  for (const dir of missing.reverse()) {
    const first = made === undefined;
    const unguard = guard && first ? removeOnInterrupt(dir) : (): void => {};
    try {
      await mkdir(dir, { mode });
      if (first) [made, release] = [dir, unguard];
    } catch (err) {
      unguard();
      const code = (err as NodeJS.ErrnoException).code;
      // Made by a concurrent command since we looked: fine if it is a directory (and theirs, not ours to remove).
      if (code === 'EEXIST' && (await stat(dir).catch(() => undefined))?.isDirectory()) continue;
      release();
      throw new HostIoError(`${dir}: cannot create directory: ${systemErrorText(err as Error)}`, { cause: err });
    }
  }
  return { made, release };
}

/**
 * fsync of a file (its bytes are on disk) or of a directory (a rename or new
 * name in it is durable: without it a power cut can lose the entry).
 */
export async function fsyncPath(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch (err) {
    throw fromFsError(err, path);
  } finally {
    await handle?.close();
  }
}

export interface PlaceOptions {
  /** fsync `from` before it takes its name; false when its writer already did (a handle's sync, a stream's flush). */
  syncFirst?: boolean;
  /**
   * fsync the directory `to` is in, so that the new name survives a crash;
   * false when the caller fsyncs that directory once after naming many files in it.
   */
  syncDirectory?: boolean;
  /** The name a failure gives, when `to` is not what the user knows it as (a layout built under a hidden name). */
  shownAs?: string;
}

/**
 * The one atomic replace: a finished file, or a directory built under a temp
 * name, takes its final name by rename(2), which a reader or a crash sees
 * either not yet done or done, never half done. rename(2) is atomic only
 * within one file system, so `from` is always made beside `to` or in the
 * store's tmp/. Nothing else under src/ calls rename (test/architecture.test.ts).
 */
export async function placeAtomically(from: string, to: string, options: PlaceOptions = {}): Promise<void> {
  if (options.syncFirst) await fsyncPath(from);
  try {
    await rename(from, to);
  } catch (err) {
    throw fromFsError(err, options.shownAs ?? to);
  }
  if (options.syncDirectory ?? true) await fsyncPath(dirname(to));
}

/**
 * Replaces path with data so that a reader, or the file after a crash, is
 * either all old or all new: temp file (in tempDir, on the same file system;
 * default beside path) created with its final mode, fsync, then placeAtomically.
 * Data too large to hold at once comes as chunks; a chunk source that throws
 * leaves path as it was and no temp file.
 */
export async function writeFileAtomic(path: string, data: Buffer | string | Iterable<Buffer>, options: { tempDir?: string; mode?: number } = {}): Promise<void> {
  const temp = tempName(options.tempDir ?? dirname(path), `.${basename(path)}.tmp`);
  const release = removeOnInterrupt(temp);
  try {
    const handle = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      if (typeof data === 'string' || Buffer.isBuffer(data)) await handle.writeFile(data);
      else for (const chunk of data) for (let at = 0; at < chunk.length; ) at += (await handle.write(chunk, at)).bytesWritten;
      await handle.sync();
    } finally {
      await handle.close();
    }
    await placeAtomically(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw fromFsError(err, path);
  } finally {
    release();
  }
}
