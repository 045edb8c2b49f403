/**
 * Where a command's output goes: stdout, or a file that appears only when
 * complete. A file output is written to a temp name beside it (same file
 * system), fsynced and renamed into place on commit, so a failed or killed
 * command leaves FILE as it was, never half-written.
 */
import { realpathSync, type BigIntStats } from 'node:fs';
import { open, realpath, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromFsError, isSystemError, UsageError } from '../errors.js';
import { placeAtomically, writeFileAtomic } from './durable.js';
import { freshTempName, removeOnInterrupt } from './temp.js';

/** A file by identity: how a walker recognises the archive it is writing. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

/**
 * Where an operation writes what it makes: FILE (through a temp file, renamed
 * when complete), or a stream written and left open (stdout), named in
 * errors; fd, when it is a file descriptor's, so a walker can keep the file
 * it is written to out of what it reads.
 */
export type OutputTarget = string | { stream: Writable; name: string; fd?: number };

export interface FileOutput {
  /** Where the bytes go: the temp file's stream, or the device itself. */
  readonly stream: Writable;
  /** The files this output is and replaces (temp file, old FILE), so a command that walks a tree can leave them out. */
  readonly identities: FileIdentity[];
  /** Renames the fsynced file over FILE and fsyncs the directory. Call after stream has closed (pipeline resolves then). */
  commit(): Promise<void>;
  /** Removes the temp file; safe after any failure, and after commit (a no-op then). */
  abort(): Promise<void>;
}

/**
 * The image stores this process has open (Store.open registers them: io
 * knows no Store), so that one another tool made, without our `.rootfs/`,
 * is kept from outputs too while in use.
 */
const openStores = new Set<string>();

/** Marks dir as a store in use until the returned function is called. */
export function protectStore(dir: string): () => void {
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    // A store being created may not be there yet: its own name it is, then.
  }
  openStores.add(real);
  return () => void openStores.delete(real);
}

/**
 * Refuses (2) an output at or under an image store, before anything is
 * written: a file named STORE/index.json, STORE/oci-layout or a blob's
 * name would replace the store's own (all its tags gone, or a blob that no
 * longer matches its name), and a layout written into it would rewrite its
 * index. A store is the one in use, or any directory holding oci-layout,
 * index.json and our `.rootfs/`; the path is judged with its symlinks
 * resolved as far as it exists. Every output goes through here:
 * createFileOutput, writeOutputFile and the directory sinks.
 */
export async function refuseStoreDestination(path: string): Promise<void> {
  const target = await resolveExisting(resolve(path));
  for (let dir = target; ; dir = dirname(dir)) {
    if (openStores.has(dir) || (await isRootfsStore(dir))) {
      const where = dir === target ? 'is the image store' : `is inside the image store ${dir}`;
      throw new UsageError(`${path} ${where}; refusing to write there (it would replace the store's own files): give a path outside it`);
    }
    if (dirname(dir) === dir) return;
  }
}

async function isRootfsStore(dir: string): Promise<boolean> {
  for (const name of ['oci-layout', 'index.json', '.rootfs']) {
    try {
      await stat(join(dir, name));
    } catch {
      return false;
    }
  }
  return true;
}

/** path with the symlinks of its longest existing prefix resolved, the rest as given. */
async function resolveExisting(path: string): Promise<string> {
  for (let existing = path; ; existing = dirname(existing)) {
    try {
      return join(await realpath(existing), relative(existing, path));
    } catch {
      if (dirname(existing) === existing) return path;
    }
  }
}

/** A small output written whole (a key, a have file): refused inside a store, then temp file, fsync, rename. */
export async function writeOutputFile(file: string, data: Buffer | string, options: { mode?: number } = {}): Promise<void> {
  await refuseStoreDestination(file);
  await writeFileAtomic(resolve(file), data, options);
}

export async function createFileOutput(file: string): Promise<FileOutput> {
  await refuseStoreDestination(file);
  const target = resolve(file);
  let existing: BigIntStats | undefined;
  try {
    existing = await stat(target, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, file);
  }
  if (existing?.isDirectory()) throw new UsageError(`${file} is a directory; give a file name`);
  // A device or fifo (/dev/null, a tape, a named pipe) is written in place: there is nothing to rename.
  if (existing && !existing.isFile()) return inPlace(file, target);

  // `.FILE.tmp-PID-RANDOM`; what a killed write of FILE left is removed first.
  const temp = await freshTempName(dirname(target), `.${basename(target)}.tmp`);
  const release = removeOnInterrupt(temp);
  let handle: FileHandle;
  try {
    // 'wx': a name planted at the temp path is never followed or overwritten.
    handle = await open(temp, 'wx', 0o644);
  } catch (err) {
    release();
    throw fromFsError(err, dirname(file));
  }
  const own = await handle.stat({ bigint: true });
  const identities = [{ dev: own.dev, ino: own.ino }];
  if (existing) identities.push({ dev: existing.dev, ino: existing.ino });
  // flush: the stream fsyncs the file before it closes it, so once the write has finished the bytes are on disk.
  const stream = nameErrors(handle.createWriteStream({ flush: true }), file);
  let state: 'open' | 'committed' | 'aborted' = 'open';
  return {
    stream,
    identities,
    async commit() {
      // The stream's flush has already fsynced the file.
      await placeAtomically(temp, target, { shownAs: file });
      state = 'committed';
      release();
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      stream.destroy();
      await rm(temp, { force: true });
      release();
    },
  };
}

async function inPlace(file: string, target: string): Promise<FileOutput> {
  let handle: FileHandle;
  try {
    handle = await open(target, 'w');
  } catch (err) {
    throw fromFsError(err, file);
  }
  const stream = nameErrors(handle.createWriteStream(), file);
  return { stream, identities: [], commit: async () => {}, abort: async () => void stream.destroy() };
}

/**
 * A file stream's write errors know only their fd ("write: no space left on
 * device"): relabelled as they are raised, they name the output for every
 * caller, whatever pipeline they go through.
 */
function nameErrors<T extends Writable>(stream: T, file: string): T {
  const destroy = stream._destroy.bind(stream);
  stream._destroy = (error, callback) => destroy(isSystemError(error) ? (fromFsError(error, file) as Error) : error, callback);
  return stream;
}

/**
 * Copies a source into FILE through a temp file; on any error FILE is
 * untouched and the source's own error is the one thrown. The source is made
 * only once the output is open: a stream that starts working at once could
 * fail while nobody listens yet, and crash the process.
 */
export async function writeFileFromStream(file: string, makeSource: () => Readable | AsyncIterable<Buffer>): Promise<void> {
  const output = await createFileOutput(file);
  try {
    await pipeline(makeSource(), output.stream);
    await output.commit();
  } catch (err) {
    await output.abort();
    throw err;
  }
}

/**
 * For a promise's catch: a failed write names the output (a file, or
 * "stdout"), not the bare "write: no space left on device" of a stream that
 * knows no path; any other error passes unchanged.
 */
export function outputError(file: string): (err: unknown) => never {
  return (err) => {
    const syscall = (err as NodeJS.ErrnoException | undefined)?.syscall;
    throw syscall === 'write' || syscall === 'writev' || syscall === 'fsync' || syscall === 'close' ? fromFsError(err, file) : err;
  };
}

/** The Unix convention: never dump binary data on a terminal, never wait for a terminal to type an archive. */
export function refuseTerminal(direction: 'stdin' | 'stdout', what: string): void {
  if (direction === 'stdout' && process.stdout.isTTY) throw new UsageError(`refusing to write ${what} to a terminal (use -o FILE or redirect stdout)`);
  if (direction === 'stdin' && process.stdin.isTTY) throw new UsageError(`refusing to read ${what} from a terminal (pipe it in, or name a file)`);
}
