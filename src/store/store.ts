/**
 * The image store: an OCI image layout directory (oci-layout, index.json,
 * blobs/sha256/<hex>) that skopeo, umoci and oci-image-tool read unchanged,
 * read and written through the one layout engine (layout.ts: blobs,
 * index.json), plus a private ".rootfs" directory that layout readers ignore:
 *
 *   .rootfs/in-use.lock  shared flock held by every open Store; gc takes it
 *                        exclusive, so it never deletes a blob that a running
 *                        command has written but not tagged yet. A read-only
 *                        Store opens it read-only, or goes without it when it
 *                        cannot (a reader may not create anything)
 *   .rootfs/index.lock   exclusive flock around each read-modify-write of index.json
 *   .rootfs/tmp/         blob and index temp files (same file system, so rename is atomic)
 *   .rootfs/tree-index/  the tree index of a merged tree, named by the ChainID of its
 *                        layers' diff_ids (image/recapture.ts): derived data, rebuilt when
 *                        missing or damaged, dropped by gc with the last image of its chain
 *
 * Tags are index.json entries annotated with org.opencontainers.image.ref.name
 * = the familiar name ("base:latest", what skopeo's oci:STORE:base:latest and
 * umoci's STORE:base:latest look up) and io.containerd.image.name = the full name.
 * An image without a name (import or load without one) keeps an entry with
 * neither, docker's `<none>`, so that gc spares it and its ID resolves.
 */
import { constants, readFileSync } from 'node:fs';
import { access, link, readdir, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { HostIoError, InvalidInputError, LockedError, NotFoundError, RootfsError, UsageError, fromFsError, systemErrorText } from '../errors.js';
import { isMissing } from '../io/metadata.js';
import { imageLayoutVersion } from '../oci/layout.js';
import { walkImage, type GraphNode, type WalkOptions } from '../oci/walk.js';
import { familiarName, fullName, isTagReference, parseReference, sameReference, sameRepository, type ImageReference } from '../oci/reference.js';
import {
  Annotation,
  isIndexMediaType,
  isManifestMediaType,
  type Descriptor,
  type Digest,
  type Index,
  withoutNameAnnotations,
} from '../oci/types.js';
import type { BlobWriter } from './blob-writer.js';
import { LayoutDirectory } from './layout.js';
import { removeOnInterrupt, Spool, staleTemps } from '../io/temp.js';
import { fsyncPath, makeDirectory, writeFileAtomic } from '../io/durable.js';
import { digestHex, parseDigest } from '../oci/digest.js';
import { protectStore } from '../io/output.js';
import { currentUser, homeCause } from '../io/home.js';
import { collectGarbage, type GcResult } from './gc.js';
import { FileLock } from './lock.js';
import { parseIndex, parseOciLayout } from '../oci/validate.js';

export type { BlobWriter } from './blob-writer.js';

const privateDirName = '.rootfs';
const treeIndexDirName = 'tree-index';

/** The layout engine on a store's directory: its temp files go in the private tmp/, on the same file system. */
function storeLayout(dir: string): LayoutDirectory {
  return new LayoutDirectory(dir, { tempDir: join(dir, privateDirName, 'tmp'), shownAs: `the store ${dir}` });
}

/** $ROOTFS_STORE, else /var/lib/rootfs for root, else ${XDG_DATA_HOME:-~/.local/share}/rootfs. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ROOTFS_STORE) return env.ROOTFS_STORE;
  if (process.getuid?.() === 0) return '/var/lib/rootfs';
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(dataHome, 'rootfs');
}

export interface StoreImage {
  name: string;
  ref: ImageReference;
  descriptor: Descriptor;
}

/** An index.json entry: a named image, or one without a name (`<none>`). */
export interface StoreEntry {
  name?: string;
  ref?: ImageReference;
  descriptor: Descriptor;
}

export class Store {
  private closed = false;
  private cachedIndex: { version: string; index: Index } | undefined;
  /** The layout engine under the store: blobs and index.json; the store adds the lock, names, referrers and gc. */
  private readonly layout: LayoutDirectory;

  private constructor(
    readonly dir: string,
    private readonly inUse: FileLock | undefined,
    readonly readOnly: boolean,
    /** Temp files of killed commands (dead PIDs) a read-only open found and left for gc; none after a writable open, which removes them. */
    readonly leftovers: { count: number; bytes: number },
    private readonly created: NewStore | undefined,
    /** Ends the output guard (io/output.ts refuseStoreDestination) that keeps this process's outputs out of the store. */
    private readonly unprotect: () => void,
  ) {
    this.layout = storeLayout(dir);
  }

  /**
   * Validates oci-layout and holds the shared in-use lock until close().
   * Whether a missing store is made is decided here, by the mode and by
   * nothing else: a command that writes creates it; readOnly (commands that
   * only read) never does, and a missing or empty directory is "not found"
   * (4) naming it, so a mistyped --store creates nothing. readOnly opens an
   * existing layout without writing anything to it, so a user who may read
   * the store but not write it can; the write methods then refuse. Without
   * readOnly, a store this user cannot write is refused at once, before any work.
   *
   * A store this open created is removed again if the command is interrupted
   * or fails (close) before it holds an image: a mistyped --store on a failed
   * import leaves no empty store behind.
   */
  static async open(dir: string, options: { readOnly?: boolean } = {}): Promise<Store> {
    const root = resolvePath(dir);
    const readOnly = options.readOnly ?? false;
    const lockPath = join(root, privateDirName, 'in-use.lock');
    let inUse: FileLock | undefined;
    let created: NewStore | undefined;
    try {
      created = await prepareLayout(root, readOnly);
      inUse = readOnly ? await FileLock.openExisting(lockPath) : await FileLock.open(lockPath);
    } catch (err) {
      await created?.discard();
      const home = homeCause(err, root, 'the store');
      throw home !== err || readOnly ? home : notWritable(root, err);
    }
    await inUse?.acquire(false);
    const layout = storeLayout(root);
    // What killed commands left in tmp/ (SIGKILL, a power cut) goes now; a live PID's file is a running command's.
    // A read-only command writes nothing, not even this tidying: it counts them, and gc removes them.
    const leftovers = readOnly ? await staleTemps(layout.tempDir, layout.tempPattern()) : (await layout.clean(), { count: 0, bytes: 0 });
    return new Store(root, inUse, readOnly, leftovers, created, protectStore(root));
  }

  /**
   * Releases the store. failed: the command did not complete; a store this
   * open created then goes again if it holds no image and no other command
   * has it open (the exclusive lock is free).
   */
  async close(options: { failed?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (options.failed && this.created && this.inUse?.try(true) && !holdsImages(this.dir)) await this.created.discard();
    else this.created?.keep();
    this.unprotect();
    await this.inUse?.close();
  }

  blobPath(digest: Digest): string {
    return this.layout.blobPath(digest);
  }

  hasBlob(digest: Digest): Promise<boolean> {
    return this.layout.hasBlob(digest);
  }

  /** Where the tree index files live: the store's own, beside its temp files. */
  private get treeIndexDir(): string {
    return join(this.dir, privateDirName, treeIndexDirName);
  }

  /** The tree index file of the merged tree of layers with this ChainID (oci/digest.ts chainId). */
  treeIndexPath(chain: Digest): string {
    return join(this.treeIndexDir, digestHex(parseDigest(chain, 'chain ID')));
  }

  /** Writes a tree index file (temp, fsync, rename): whole or not at all. */
  async writeTreeIndex(chain: Digest, chunks: Iterable<Buffer>): Promise<void> {
    this.checkWritable();
    const path = this.treeIndexPath(chain);
    await makeDirectory(this.treeIndexDir);
    await writeFileAtomic(path, chunks, { tempDir: this.layout.tempDir });
  }

  /**
   * Gives the tree index of chain `from` the name of chain `to` too (the same
   * tree, as after a re-capture that carried nothing): a hard link, atomic,
   * nothing written. False when `from` has none; a `to` already there stays.
   */
  async linkTreeIndex(from: Digest, to: Digest): Promise<boolean> {
    this.checkWritable();
    const path = this.treeIndexPath(to);
    try {
      await link(this.treeIndexPath(from), path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOENT') return code === 'EEXIST';
      throw fromFsError(err, path);
    }
    await fsyncPath(dirname(path));
    return true;
  }

  /** Scratch files in the store's tmp/ (a delta's reference tar, on the store's file system), gone with remove() or, if killed, the next open. */
  spool(kind: string): Spool {
    return new Spool(this.layout.tempDir, kind);
  }

  createBlobWriter(): BlobWriter {
    this.checkWritable();
    return this.layout.createBlobWriter();
  }

  /** For small blobs (JSON documents); skips the write when the blob is already there. */
  putBlob(data: Buffer): Promise<{ digest: Digest; size: number }> {
    this.checkWritable();
    return this.layout.putBlob(data);
  }

  listBlobs(): Promise<Digest[]> {
    return this.layout.listBlobs();
  }

  /** For gc, under the exclusive in-use lock. */
  removeBlob(digest: Digest): Promise<void> {
    this.checkWritable();
    return this.layout.removeBlob(digest);
  }

  /** A verifying read: wrong bytes on disk fail the stream at its end; an absent blob fails it with NotFoundError. */
  openBlob(digest: Digest, size?: number): Readable {
    return this.layout.openBlob(digest, size);
  }

  /**
   * A blob's bytes as they lie, for a reader that checks every byte itself
   * (the copy: engine/verified-blob.ts), so that they are not hashed twice: a
   * regular file only, at most size + 1 bytes; an absent blob is NotFoundError.
   */
  async openBlobAsStored(digest: Digest, size: number): Promise<Readable> {
    try {
      return (await this.layout.openUnverified(digest, size)).stream;
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`blob ${digest} is not in ${this.dir}`, { cause: err });
      throw err;
    }
  }

  readBlob(digest: Digest, size?: number): Promise<Buffer> {
    return this.layout.readBlob(digest, size);
  }

  /** A manifest, index or config blob, parsed, bounded by documentCaps.image (LayoutDirectory.readDocument). */
  readJson<T>(digest: Digest, size?: number): Promise<T> {
    return this.layout.readDocument<T>(digest, size);
  }

  /**
   * index.json as it is now, read again only when the file has changed: a
   * command that looks up each of 10,000 images must not parse a 10,000-entry
   * index 10,000 times. index.json is only ever replaced by rename, so a new
   * version is a new inode (and mtime); the result is shared: do not change
   * it (updateIndex reads its own copy).
   */
  async readIndex(): Promise<Index> {
    const path = join(this.dir, 'index.json');
    let version: string | undefined;
    try {
      const info = await stat(path, { bigint: true });
      version = `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch {
      // The read below says what is wrong.
    }
    if (version !== undefined && this.cachedIndex?.version === version) return this.cachedIndex.index;
    const index = await this.readIndexFile();
    this.cachedIndex = version === undefined ? undefined : { version, index };
    return index;
  }

  private readIndexFile(): Promise<Index> {
    return this.layout.readIndex();
  }

  /**
   * Exclusive index lock, fresh read of index.json, fn mutates it, then temp
   * file + fsync + rename (+ fsync dir). The lock is released either way; if
   * fn throws, index.json is untouched, and if fn changed nothing it is not rewritten.
   */
  async updateIndex<T>(fn: (index: Index) => T | Promise<T>): Promise<T> {
    this.checkWritable();
    const lock = await FileLock.open(join(this.dir, privateDirName, 'index.lock'));
    try {
      await lock.acquire(true);
      const index = await this.readIndexFile();
      const before = JSON.stringify(index);
      const result = await fn(index);
      const after = JSON.stringify(index);
      if (after !== before) {
        parseIndex(index, 'updated index.json');
        await this.layout.writeIndex(index);
      }
      return result;
    } finally {
      await lock.close();
    }
  }

  /**
   * Points ref (a name with a tag) at descriptor, replacing the entry with the
   * same name. An untagged entry for the same image goes: it has a name now.
   */
  async tag(ref: ImageReference, descriptor: Descriptor): Promise<void> {
    await this.recordNames({ tags: [{ ref, descriptor }] });
  }

  /**
   * Keeps an image that has no name (import or load without one) as an
   * index.json entry without a name, as docker keeps `<none>` images: gc
   * spares it and its ID resolves. Nothing changes if the image has an entry.
   */
  async addUntagged(descriptor: Descriptor): Promise<void> {
    await this.recordNames({ untagged: [descriptor] });
  }

  /**
   * Records a referrer: a manifest whose `subject` is subject (a signature, an
   * SBOM, an attestation; OCI 1.1). It is kept as an index.json entry without a
   * name, marked with the subject's digest, so gc spares it, `images` does not
   * list it, and it goes when its subject's image is removed. The manifest blob
   * must be in the store. Nothing changes if it is recorded already.
   * options.image: the index.json entry the subject belongs to (the image, or
   * the index a platform's manifest is in), re-checked under the index lock,
   * so a referrer made while `rmi` removed its image is refused (NotFoundError)
   * rather than recorded for a subject that is gone.
   */
  async addReferrer(descriptor: Descriptor, subject: Digest, options: { image?: Digest } = {}): Promise<void> {
    await this.recordNames({ referrers: [{ descriptor, subject, image: options.image }] });
  }

  /**
   * tag, then addUntagged, then addReferrer for each, in one index.json
   * update: a load of 10,000 images or 100,000 signatures rewrites the index
   * once, not once per name (which is quadratic in bytes written and fsyncs).
   * The same result as the calls one by one, a later name of the same tag winning.
   */
  async recordNames(names: { tags?: Array<{ ref: ImageReference; descriptor: Descriptor }>; untagged?: Descriptor[]; referrers?: Array<{ descriptor: Descriptor; subject: Digest; image?: Digest }> }): Promise<void> {
    const tagged = new Map<string, Descriptor>();
    for (const { ref, descriptor } of names.tags ?? []) {
      if (!isTagReference(ref)) throw new UsageError(`cannot tag ${familiarName(ref)}: a tag needs name:tag, not a digest`);
      if (!(await this.hasBlob(descriptor.digest))) throw new NotFoundError(`cannot tag ${familiarName(ref)}: blob ${descriptor.digest} is not in the store ${this.dir}`);
      const bare = withoutNameAnnotations(descriptor);
      tagged.delete(fullName(ref));
      tagged.set(fullName(ref), { ...bare, annotations: { ...bare.annotations, [Annotation.RefName]: familiarName(ref), [Annotation.ContainerdImageName]: fullName(ref) } });
    }
    const referrers: Descriptor[] = [];
    const guarded = (names.referrers ?? []).filter((referrer) => referrer.image !== undefined);
    for (const { descriptor, subject } of names.referrers ?? []) {
      if (!(await this.hasBlob(descriptor.digest))) throw new NotFoundError(`cannot record referrer ${descriptor.digest}: its manifest is not in the store ${this.dir}`);
      const bare = withoutNameAnnotations(descriptor);
      referrers.push({ ...bare, annotations: { ...bare.annotations, [Annotation.Subject]: subject } });
    }
    await this.updateIndex((index) => {
      for (const { descriptor, image } of guarded) {
        if (!index.manifests.some((existing) => existing.digest === image && referrerSubject(existing) === undefined)) {
          throw new NotFoundError(`cannot record referrer ${descriptor.digest}: image ${image} was removed from the store ${this.dir} meanwhile`);
        }
      }
      const taggedDigests = new Set([...tagged.values()].map((entry) => entry.digest));
      const placed = new Set<string>();
      const kept: Descriptor[] = [];
      // A name already there keeps its place in the index; an untagged entry of an image named now goes.
      for (const existing of index.manifests) {
        const named = entryReference(existing);
        const key = named !== undefined && isTagReference(named) ? fullName(named) : undefined;
        if (key !== undefined && tagged.has(key)) {
          if (!placed.has(key)) kept.push(tagged.get(key)!);
          placed.add(key);
        } else if (!(isUntagged(existing) && taggedDigests.has(existing.digest))) kept.push(existing);
      }
      for (const [key, entry] of tagged) if (!placed.has(key)) kept.push(entry);
      const present = new Set(kept.map((entry) => entry.digest));
      for (const descriptor of names.untagged ?? []) {
        if (present.has(descriptor.digest)) continue;
        present.add(descriptor.digest);
        kept.push(withoutNameAnnotations(descriptor));
      }
      const recorded = new Set(kept.map((entry) => `${entry.digest} ${referrerSubject(entry)}`));
      for (const entry of referrers) {
        const key = `${entry.digest} ${referrerSubject(entry)}`;
        if (recorded.has(key)) continue;
        recorded.add(key);
        kept.push(entry);
      }
      index.manifests = kept;
    });
  }

  /** The referrers recorded for subject (a manifest or index digest), optionally of one artifactType, in the order they were added. */
  async referrers(subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    return (await this.readIndex()).manifests.filter((entry) => referrerSubject(entry) === subject && (artifactType === undefined || entry.artifactType === artifactType));
  }

  /** Every referrer entry of index.json by its subject, from one read (a scan per subject would be quadratic in 100k signatures), without the store's subject mark. */
  async referrersBySubject(): Promise<Map<Digest, Descriptor[]>> {
    const bySubject = new Map<Digest, Descriptor[]>();
    for (const entry of (await this.readIndex()).manifests) {
      const subject = referrerSubject(entry);
      if (subject === undefined) continue;
      const list = bySubject.get(subject);
      if (list) list.push(withoutSubjectMark(entry));
      else bySubject.set(subject, [withoutSubjectMark(entry)]);
    }
    return bySubject;
  }

  /**
   * The digests an image's referrers may name as their subject: its
   * index.json entry and, for an index, every manifest and index under it, by
   * the one walk, held here or only listed (a signature can be of one
   * platform), as pull takes them.
   */
  async subjectsOf(descriptor: Descriptor): Promise<Digest[]> {
    if (!isIndexMediaType(descriptor.mediaType)) return [descriptor.digest];
    const documents = (node: GraphNode, all: Descriptor[]): Descriptor[] => (node.document?.kind === 'index' ? all.filter((child) => isManifestMediaType(child.mediaType) || isIndexMediaType(child.mediaType)) : []);
    const subjects: Digest[] = [];
    for await (const node of this.walk([descriptor], documents, true)) subjects.push(node.descriptor.digest);
    return subjects;
  }

  /**
   * Removes the entries named ref (name:tag; name@digest removes that
   * repository's entries for the digest). False when there were none.
   */
  async untag(ref: ImageReference): Promise<boolean> {
    return this.updateIndex(async (index) => {
      const before = index.manifests;
      index.manifests = index.manifests.filter((entry) => {
        const named = entryReference(entry);
        if (!named || !sameRepository(named, ref)) return true;
        if (ref.digest !== undefined) return entry.digest !== ref.digest || (ref.tag !== undefined && named.tag !== ref.tag);
        return named.tag !== ref.tag;
      });
      // An image's last name gone, the image is gone (as docker's rmi NAME), and so are its referrers.
      await this.dropReferrersOf(index, before.filter((entry) => !index.manifests.includes(entry) && !index.manifests.some((kept) => kept.digest === entry.digest)));
      return index.manifests.length !== before.length;
    });
  }

  /** Removes every entry of the image whose index.json entry has this digest, named or not; returns them. */
  async removeImage(digest: Digest): Promise<StoreEntry[]> {
    return this.updateIndex(async (index) => {
      const removed = index.manifests.filter((entry) => entry.digest === digest && referrerSubject(entry) === undefined);
      index.manifests = index.manifests.filter((entry) => entry.digest !== digest || referrerSubject(entry) !== undefined);
      await this.dropReferrersOf(index, removed);
      return removed.map(describeEntry);
    });
  }

  /** Drops the referrer entries of removed images (of the manifests an index lists too), and theirs with them (a signature of an SBOM). */
  private async dropReferrersOf(index: Index, removed: Descriptor[]): Promise<void> {
    const gone = new Set<Digest>();
    for (const entry of removed) {
      // A subject blob already gone (a damaged store) still has its own digest as a subject.
      const subjects = await this.subjectsOf(entry).catch(() => [entry.digest]);
      subjects.forEach((subject) => gone.add(subject));
    }
    for (let changed = gone.size > 0; changed; ) {
      changed = false;
      index.manifests = index.manifests.filter((entry) => {
        const subject = referrerSubject(entry);
        if (subject === undefined || !gone.has(subject)) return true;
        gone.add(entry.digest);
        changed = true;
        return false;
      });
    }
  }

  /** Removes the entries of images without a name (docker's dangling images); returns them. */
  async removeUntagged(): Promise<StoreEntry[]> {
    return this.updateIndex(async (index) => {
      const removed = index.manifests.filter(isUntagged);
      index.manifests = index.manifests.filter((entry) => !isUntagged(entry));
      await this.dropReferrersOf(index, removed);
      return removed.map(describeEntry);
    });
  }

  /** The named images (one per name). */
  async listImages(): Promise<StoreImage[]> {
    return (await this.listEntries()).filter((entry): entry is StoreImage => entry.ref !== undefined);
  }

  /** Every index.json entry: the named images and those without a name (`<none>`). */
  async listEntries(): Promise<StoreEntry[]> {
    return (await this.imageEntries()).map(describeEntry);
  }

  /** index.json without the referrer entries: the images. */
  async imageEntries(): Promise<Descriptor[]> {
    return (await this.readIndex()).manifests.filter((entry) => referrerSubject(entry) === undefined);
  }

  /**
   * Removes unreferenced blobs and all temp files, holding the in-use lock
   * exclusively so no other command runs meanwhile. It waits for every other
   * open Store on this directory, including ones in this process: close them
   * first. With wait false it throws LockedError instead of waiting.
   */
  async gc(options: { wait?: boolean; onWait?: () => void } = {}): Promise<GcResult> {
    this.checkWritable();
    if (!this.inUse) throw new Error('a writable store holds its in-use lock');
    if (options.wait === false) {
      if (!this.inUse.try(true)) {
        // The failed upgrade dropped our shared lock (see FileLock.acquire); take it back before reporting.
        await this.inUse.acquire(false);
        throw new LockedError(`${this.dir}: other rootfs commands are using the store; gc runs when they have finished`);
      }
    } else await this.inUse.acquire(true, options.onWait);
    try {
      return await collectGarbage(this, this.layout.tempDir, this.treeIndexDir);
    } finally {
      // Downgrading never waits.
      await this.inUse.acquire(false);
    }
  }

  /** A bug, not a user's mistake: a command that writes opened the store read-only. */
  private checkWritable(): void {
    if (this.readOnly) throw new Error(`${this.dir}: store opened read-only`);
  }

  /**
   * walkImage over this store's blobs (each read checked against its
   * descriptor), following what children picks. A blob not here is an error,
   * or with skipMissing a node without a document.
   */
  walk(roots: Descriptor[], children?: WalkOptions['children'], skipMissing = false): AsyncGenerator<GraphNode> {
    const read = async (descriptor: Descriptor): Promise<Buffer | undefined> => (!skipMissing || (await this.hasBlob(descriptor.digest)) ? this.readBlob(descriptor.digest, descriptor.size) : undefined);
    return walkImage(roots, { read, where: (descriptor) => this.blobPath(descriptor.digest), children });
  }
}


function describeEntry(descriptor: Descriptor): StoreEntry {
  const ref = entryReference(descriptor);
  return ref ? { name: familiarName(ref), ref, descriptor } : { descriptor };
}

/** An entry without a name: what import or load without a tag leave (docker's `<none>`, "dangling"). */
function isUntagged(entry: Descriptor): boolean {
  return entry.annotations?.[Annotation.RefName] === undefined && entry.annotations?.[Annotation.ContainerdImageName] === undefined && referrerSubject(entry) === undefined;
}

function withoutSubjectMark(entry: Descriptor): Descriptor {
  const { annotations, ...rest } = entry;
  const kept = Object.entries(annotations ?? {}).filter(([key]) => key !== Annotation.Subject);
  return kept.length > 0 ? { ...rest, annotations: Object.fromEntries(kept) } : rest;
}

/** The subject of a referrer entry (see addReferrer); undefined for an image's entry. */
function referrerSubject(entry: Descriptor): Digest | undefined {
  return entry.annotations?.[Annotation.Subject] as Digest | undefined;
}

/** The reference an index.json entry is tagged with, if any (entries with unparsable names are not ours to interpret). */
export function entryReference(entry: Descriptor): ImageReference | undefined {
  const name = entry.annotations?.[Annotation.RefName];
  if (name === undefined) return undefined;
  try {
    return parseReference(name);
  } catch {
    return undefined;
  }
}

/** Whether an index entry is named ref. */
export function entryNamed(entry: Descriptor, ref: ImageReference): boolean {
  const named = entryReference(entry);
  return named !== undefined && sameReference(named, ref);
}

/**
 * A store this user cannot change, said as such: the error of whichever
 * write found out (EACCES, EPERM, EROFS), or of the first check, which runs
 * before a command spends minutes on work it could never commit.
 */
function notWritable(dir: string, err: unknown): unknown {
  const cause = err instanceof RootfsError ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') return err;
  return new HostIoError(`${dir}: the store is not writable by ${currentUser()} (${systemErrorText(cause as Error)}); commands that only read it (images, inspect, save, export) still work`, { cause });
}

/** Throws the error of the first of the store's directories this process may not write into. */
async function checkWritable(dir: string): Promise<void> {
  for (const path of [dir, join(dir, 'blobs', 'sha256'), join(dir, privateDirName), join(dir, privateDirName, 'tmp')]) {
    try {
      await access(path, constants.W_OK);
    } catch (err) {
      // A missing one is made next, in a parent checked just before.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/**
 * Validates an existing layout, or creates a new one unless readOnly (then
 * a missing store is "not found"); what it created comes back, guarded (see
 * guardNewStore). A directory that holds other things and no oci-layout is
 * refused: --store pointed at the wrong place must not get blobs sprayed
 * into it. readOnly leaves an existing layout exactly as it is.
 */
async function prepareLayout(dir: string, readOnly: boolean): Promise<NewStore | undefined> {
  const layoutPath = join(dir, 'oci-layout');
  let layoutText: string | undefined;
  try {
    layoutText = (await storeLayout(dir).readLayoutFile()).toString('utf8');
  } catch (err) {
    if (((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOTDIR') throw new HostIoError(`${dir}: not a directory`, { cause: err });
    if (!isMissing(err)) throw err;
  }
  const privateTmp = join(dir, privateDirName, 'tmp');
  if (layoutText !== undefined) {
    parseOciLayout(layoutText, layoutPath);
    if (readOnly) return undefined;
    await checkWritable(dir);
    await makeDirs(privateTmp, join(dir, 'blobs', 'sha256'));
    return undefined;
  }
  let existing: string[] = [];
  try {
    existing = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, dir);
  }
  // These are what an interrupted creation leaves, or a concurrent one (oci-layout, written since we looked for it);
  // anything else means the directory is someone else's.
  const foreign = existing.filter((name) => !storeNames.includes(name));
  if (foreign.length > 0) throw new InvalidInputError(dir, `not an OCI image layout (no oci-layout file) and not empty; refusing to use it as a store`);
  if (readOnly) throw new NotFoundError(`${dir}: no image store here (no oci-layout file); commands that only read create none`);
  const { made, release } = await makeDirectory(privateTmp, undefined, true);
  const created = guardNewStore(dir, made);
  release();
  try {
    await makeDirs(join(dir, 'blobs', 'sha256'));
    // Creation runs under the index lock so two first commands do not both write index.json; oci-layout comes last and marks the layout complete.
    const lock = await FileLock.open(join(dir, privateDirName, 'index.lock'));
    try {
      await lock.acquire(true);
      const layout = storeLayout(dir);
      try {
        await layout.readIndex();
      } catch (err) {
        if (!isMissing(err) && !(err instanceof InvalidInputError)) throw err;
        await layout.writeIndex({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
      }
      await writeFileAtomic(layoutPath, JSON.stringify({ imageLayoutVersion }), { tempDir: privateTmp });
    } finally {
      await lock.close();
    }
  } catch (err) {
    await created.discard();
    throw err;
  }
  return created;
}

/** What a store directory may hold before its oci-layout is written. */
const storeNames = [privateDirName, 'blobs', 'index.json', 'oci-layout'];

/** A store this command is making: gone if the command is interrupted, or discarded, before it holds an image. */
interface NewStore {
  discard(): Promise<void>;
  /** It stays: an interrupt no longer removes it. */
  keep(): void;
}

/**
 * made is the outermost directory makeDirectory made (dir or an ancestor,
 * for --store a/b/c with a missing); when dir was there already (empty),
 * only the names a store puts in it go.
 */
function guardNewStore(dir: string, made: string | undefined): NewStore {
  const ours = made !== undefined && (made === dir || dir.startsWith(`${made}/`)) ? made : undefined;
  // Checked when the signal comes: an image tagged by then keeps the store.
  const release = ours !== undefined ? removeOnInterrupt(ours, false, () => holdsImages(dir)) : removeOnInterrupt(dir, true, () => holdsImages(dir));
  return {
    async discard() {
      release();
      for (const path of ours !== undefined ? [ours] : storeNames.map((name) => join(dir, name))) await rm(path, { recursive: true, force: true });
    },
    keep: release,
  };
}

/** Whether a store's index.json lists anything; synchronous, for the signal handler. An index we cannot read is kept, to be safe. */
function holdsImages(dir: string): boolean {
  try {
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Partial<Index> | null;
    return !(Array.isArray(index?.manifests) && index.manifests.length === 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

async function makeDirs(...dirs: string[]): Promise<void> {
  for (const dir of dirs) await makeDirectory(dir);
}
