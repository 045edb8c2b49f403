/** The few file operations that crash safety rests on. */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { fromFsError } from '../errors.js';
import { removeOnInterrupt, tempName } from '../io/temp.js';

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

/**
 * Replaces path with data so that a reader, or the file after a crash, is
 * either all old or all new: temp file (in tempDir, on the same file system;
 * default beside path) created with its final mode, fsync, rename, fsync of
 * the directory.
 */
export async function writeFileAtomic(path: string, data: Buffer | string, options: { tempDir?: string; mode?: number } = {}): Promise<void> {
  const temp = tempName(options.tempDir ?? dirname(path), `.${basename(path)}.tmp`);
  const release = removeOnInterrupt(temp);
  try {
    const handle = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw fromFsError(err, path);
  } finally {
    release();
  }
  await fsyncPath(dirname(path));
}
