/**
 * Where `save` puts an archive's members: a tar stream (to a temp file
 * renamed into place at the end, or to stdout) or an OCI layout directory (blobs by
 * temp file + rename, index.json last). The format writers only name members.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { pathExists } from '../io/metadata.js';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromFsError, HostIoError, UsageError } from '../errors.js';
import { createFileOutput, outputError, refuseStoreDestination } from '../io/output.js';
import { freshTempName, removeOnInterrupt, Spool } from '../io/temp.js';
import { fsyncPath, makeDirectory, placeAtomically, writeFileAtomic } from '../io/durable.js';
import type { Digest } from '../oci/types.js';
import { LayoutDirectory } from '../store/layout.js';
import type { TarEntry } from '../tar/header.js';
import { TarWriter } from '../tar/writer.js';

export interface ArchiveSink {
  /** A fresh temp file path on the output's file system, for a layer that must be spooled (recompressed). */
  spoolPath(): Promise<string>;
  /** True once a member of that name has been added (blobs shared by several images are written once). */
  has(name: string): boolean;
  addBytes(name: string, data: Buffer): Promise<void>;
  /** Streams `size` bytes; the stream must verify itself (store.openBlob does). */
  addStream(name: string, size: number, body: Readable): Promise<void>;
  /** Moves a spooled file in (a tar copies then deletes it; a directory renames it). */
  addFile(name: string, path: string, size: number): Promise<void>;
  finish(): Promise<void>;
  /** Removes everything written so far; the destination is as it was. */
  abort(): Promise<void>;
}

const mtime = 0; // reproducible archives: the same images save to the same bytes

/** A tar sink; `path` '-' writes to `stdout`. */
export async function createTarSink(path: string, stdout: Writable): Promise<ArchiveSink> {
  const file = path === '-' ? undefined : await createFileOutput(path);
  const spool = file ? new Spool(dirname(path), `.${basename(path)}.tmp`) : new Spool(tmpdir(), '.rootfs-save');
  const writer = new TarWriter();
  // A file output names its own write errors; stdout is named here.
  const piped = pipeline(writer, file ? file.stream : stdout, { end: file !== undefined });
  const written = file ? piped : piped.catch(outputError('stdout'));
  written.catch(() => {}); // observed in finish()/abort()
  const names = new Set<string>();
  const directories = new Set<string>();

  const add = async (name: string, entry: Omit<TarEntry, 'path' | 'mode' | 'uid' | 'gid' | 'mtime'>, body?: Buffer | Readable): Promise<void> => {
    if (names.has(name)) return;
    names.add(name);
    // Parent directories first, as docker save and skopeo write them.
    const parts = name.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (directories.has(dir)) continue;
      directories.add(dir);
      await writer.add({ path: Buffer.from(`${dir}/`), type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime });
    }
    await writer.add({ path: Buffer.from(name), mode: 0o644, uid: 0, gid: 0, mtime, ...entry }, body);
  };

  return {
    spoolPath: () => spool.path(),
    has: (name) => names.has(name),
    addBytes: (name, data) => add(name, { type: 'file', size: data.length }, data),
    addStream: (name, size, body) => add(name, { type: 'file', size }, body),
    async addFile(name, path, size) {
      try {
        await add(name, { type: 'file', size }, createReadStream(path));
      } finally {
        await rm(path, { force: true });
      }
    },
    async finish() {
      await writer.finish();
      await written;
      await spool.remove();
      await file?.commit();
    },
    async abort() {
      writer.destroy();
      await written.catch(() => {});
      await spool.remove();
      await file?.abort();
    },
  };
}

/**
 * An OCI layout directory, written by the layout engine (store/layout.ts) as
 * the store is: blobs through its hashed temp files placed atomically,
 * index.json by its atomic index write. A new layout (for a missing or empty
 * directory) is built beside its final name and renamed into place (rename(2)
 * replaces an empty directory); an existing layout gets the new blobs and
 * index entries (index.json rewritten last, atomically), as skopeo's oci:
 * does. Any other directory is refused (usage error, as a file output that is
 * a directory): save must not mix blobs into someone's files. Directories are
 * made 0755 and files 0644, less the umask, as skopeo makes them.
 */
export async function createDirSink(path: string): Promise<{ sink: ArchiveSink; existingIndex: Buffer | undefined }> {
  await refuseStoreDestination(path);
  const existing = await existingLayout(path);
  let building = path;
  let release = (): void => {};
  // Directories made for a new layout go with it if the save fails or is interrupted.
  let madeParent: string | undefined;
  if (existing !== 'layout') {
    ({ made: madeParent, release } = await makeDirectory(dirname(path), undefined, true));
    building = await freshTempName(dirname(path), `.${basename(path)}.tmp`);
    if (madeParent === undefined) release = removeOnInterrupt(building);
    try {
      await mkdir(building, { mode: 0o755 });
    } catch (err) {
      throw fromFsError(err, dirname(path));
    }
  }
  const fresh = building !== path;
  const layout = LayoutDirectory.foreign(building, path);
  if (!fresh) await layout.clean();
  const existingIndex = fresh ? undefined : await layout.readIndexBytes();
  const spool = new Spool(building, '.rootfs-save');
  const names = new Set<string>();
  // Blobs of an existing layout that this save adds, removed again on abort.
  const added: Digest[] = [];

  // The layout may be on removable media about to be unplugged: every file is fsynced before its rename, every
  // directory that got names is fsynced at the end.
  const syncDirs = async (root: string): Promise<void> => {
    for (const dir of [join(root, 'blobs', 'sha256'), join(root, 'blobs'), root]) if (await pathExists(dir)) await fsyncPath(dir);
  };
  /** Writes a member once; false when it was written already, or is a blob an existing layout holds (the same bytes, by its name). */
  const place = async (name: string, write: (digest: Digest | undefined) => Promise<void>): Promise<boolean> => {
    if (names.has(name)) return false;
    names.add(name);
    const digest = layoutBlobDigest(name);
    if (digest !== undefined && !fresh && (await layout.hasBlob(digest))) return false;
    try {
      if (digest !== undefined) await makeDirectory(dirname(layout.blobPath(digest)));
      await write(digest);
      if (digest !== undefined && !fresh) added.push(digest);
      return true;
    } catch (err) {
      // Named as it will be called, not by the hidden directory a new layout is built in (nor the engine's temp file in it).
      if (err instanceof HostIoError && err.cause !== undefined) throw fromFsError(err.cause, join(path, name));
      throw err instanceof Error && 'exitCode' in err ? err : fromFsError(err, join(path, name));
    }
  };
  const notBlob = (name: string): Error => new Error(`createDirSink: ${name} is not a blob`);

  const sink: ArchiveSink = {
    spoolPath: () => spool.path(),
    has: (name) => names.has(name),
    async addBytes(name, data) {
      await place(name, async (digest) => {
        if (digest !== undefined) await layout.writeBlob(Readable.from([data]), { digest, size: data.length });
        else if (name === 'index.json') await layout.writeIndex(data);
        else await writeFileAtomic(join(building, name), data);
      });
    },
    async addStream(name, size, body) {
      const placed = await place(name, async (digest) => {
        if (digest === undefined) throw notBlob(name);
        await layout.writeBlob(body, { digest, size });
      });
      if (!placed) body.destroy();
    },
    async addFile(name, spooled) {
      const placed = await place(name, async (digest) => {
        if (digest === undefined) throw notBlob(name);
        await layout.placeBlob(spooled, digest, join(path, name));
      });
      if (!placed) await rm(spooled, { force: true });
    },
    async finish() {
      await spool.remove();
      await syncDirs(building);
      if (!fresh) return;
      try {
        await placeAtomically(building, path);
      } finally {
        release();
      }
    },
    async abort() {
      await spool.remove();
      if (fresh) await rm(madeParent ?? building, { recursive: true, force: true });
      else for (const digest of added) await layout.removeBlob(digest);
      release();
    },
  };
  return { sink, existingIndex };
}

/** The digest a layout member name holds, if it is a blob's (blobs/sha256/<hex>). */
function layoutBlobDigest(name: string): Digest | undefined {
  const hex = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name)?.[1];
  return hex === undefined ? undefined : `sha256:${hex}`;
}

/** What is at an OCI layout output path: nothing (or an empty directory), or a layout to add to; anything else is refused. */
async function existingLayout(path: string): Promise<'none' | 'layout'> {
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'none';
    if (code === 'ENOTDIR') throw new UsageError(`${path} exists and is not a directory`);
    throw fromFsError(err, path);
  }
  if (entries.includes('oci-layout')) return 'layout';
  if (entries.length === 0) return 'none';
  throw new UsageError(`${path}: not empty and not an OCI image layout (no oci-layout file); refusing to write into it (give a new or empty directory, or an existing layout)`);
}
