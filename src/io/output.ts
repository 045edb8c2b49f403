/**
 * Where a command's output goes: stdout, or a file that appears only when
 * complete. A file output is written to a temp name beside it (same file
 * system), fsynced and renamed into place on commit, so a failed or killed
 * command leaves FILE as it was, never half-written.
 */
import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromFsError, UsageError } from '../errors.js';
import { fsyncDir, tempName } from '../store/fs.js';

export interface FileOutput {
  /** The temp file's stream. */
  readonly stream: Writable;
  /** fsync, rename over FILE, fsync the directory. Call after stream has finished. */
  commit(): Promise<void>;
  /** Removes the temp file; safe after any failure, and after commit (a no-op then). */
  abort(): Promise<void>;
}

export async function createFileOutput(file: string): Promise<FileOutput> {
  const target = resolve(file);
  try {
    if ((await stat(target)).isDirectory()) throw new UsageError(`${file} is a directory; give a file name`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, file);
  }
  const temp = tempName(dirname(target), `.${basename(target)}.tmp`);
  // 'wx': a name planted at the temp path is never followed or overwritten.
  const stream = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
  let done = false;
  return {
    stream,
    async commit() {
      try {
        // fsync acts on the file, not the descriptor: a second one flushes what the stream wrote.
        const handle = await open(temp, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, target);
        done = true;
      } catch (err) {
        throw fromFsError(err, file);
      }
      await fsyncDir(dirname(target));
    },
    async abort() {
      if (done) return;
      stream.destroy();
      await rm(temp, { force: true });
    },
  };
}

/** Copies source into FILE through a temp file; on any error FILE is untouched and the source's own error is the one thrown. */
export async function writeFileFromStream(file: string, source: Readable | AsyncIterable<Buffer>): Promise<void> {
  const output = await createFileOutput(file);
  try {
    await pipeline(source, output.stream);
    await output.commit();
  } catch (err) {
    await output.abort();
    throw err instanceof Error && 'syscall' in err ? fromFsError(err, file) : err;
  }
}

/** The Unix convention: never dump binary data on a terminal, never wait for a terminal to type an archive. */
export function refuseTerminal(direction: 'stdin' | 'stdout', what: string): void {
  if (direction === 'stdout' && process.stdout.isTTY) throw new UsageError(`refusing to write ${what} to a terminal (use -o FILE or redirect stdout)`);
  if (direction === 'stdin' && process.stdin.isTTY) throw new UsageError(`refusing to read ${what} from a terminal (pipe it in, or name a file)`);
}
