/** The few file operations that crash safety rests on. */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError } from '../errors.js';

/** Makes a rename or new name in dir durable: without it a power cut can lose the entry. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    throw fromFsError(err, dir);
  } finally {
    await handle?.close();
  }
}

/** A unique name for a temp file in dir: the pid says who wrote it, the random part keeps writers apart. */
export function tempName(dir: string, kind: string): string {
  return join(dir, `${kind}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Replaces path with data so that a reader, or the file after a crash, is
 * either all old or all new: temp file in tempDir (same file system), fsync,
 * rename, fsync of the directory.
 */
export async function writeFileAtomic(path: string, data: Buffer | string, tempDir: string, dir: string): Promise<void> {
  const temp = tempName(tempDir, 'file');
  try {
    const handle = await open(temp, 'wx', 0o644);
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
  }
  await fsyncDir(dir);
}
