/**
 * Rebuilding the original file from a part set, verifying as it streams. A
 * file output is written to a hidden temp name beside it and renamed only
 * once every part and the whole have checked out, so a failed join leaves
 * no file behind.
 */
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UsageError, fromFsError } from '../errors.js';
import { fsyncDir, tempName } from '../store/fs.js';
import { openPartSet } from './read.js';

/** Joins the set at path (a directory or its manifest) into output: a file path, or a stream (stdout), which gets all but a bad part's last chunk before the error. */
export async function joinPartSet(path: string, output: string | Writable, onProgress?: (bytesDone: number) => void): Promise<void> {
  if (typeof output === 'string' && (await isDirectory(output))) throw new UsageError(`${output} is a directory; give the file to write`);
  const source = await openPartSet(path);
  let done = 0;
  const counted = async function* (chunks: Readable): AsyncGenerator<Buffer> {
    for await (const chunk of chunks as AsyncIterable<Buffer>) {
      done += chunk.length;
      onProgress?.(done);
      yield chunk;
    }
  };
  if (typeof output !== 'string') {
    await pipeline(source, counted, output);
    return;
  }
  const target = resolve(output);
  const temp = tempName(dirname(target), `.${basename(target)}`);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await pipeline(source, counted, async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) await handle.writeFile(chunk);
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (err) {
    source.destroy();
    await rm(temp, { force: true });
    throw fromFsError(err, target);
  }
  await fsyncDir(dirname(target));
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
