/**
 * The image store: an OCI image layout directory (oci-layout, index.json,
 * blobs/sha256/<hex>) that skopeo, umoci and oci-image-tool read unchanged,
 * plus a private ".rootfs" directory that layout readers ignore:
 *
 *   .rootfs/in-use.lock  shared flock held by every open Store; gc takes it
 *                        exclusive, so it never deletes a blob that a running
 *                        command has written but not tagged yet
 *   .rootfs/index.lock   exclusive flock around each read-modify-write of index.json
 *   .rootfs/tmp/         blob and index temp files (same file system, so rename is atomic)
 *
 * Tags are index.json entries annotated with org.opencontainers.image.ref.name
 * = the familiar name ("base:latest", what skopeo's oci:STORE:base:latest and
 * umoci's STORE:base:latest look up) and io.containerd.image.name = the full name.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { HostIoError, InvalidInputError, LockedError, NotFoundError, UsageError, fromFsError } from '../errors.js';
import { isMissing, metadataSizeCap, readMetadata, readMetadataIfExists } from '../io/metadata.js';
import { VerifyingStream, digestHex, parseDigest, sha256 } from '../oci/digest.js';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.js';
import { familiarName, fullName, isTagReference, parseReference, type ImageReference } from '../oci/reference.js';
import {
  Annotation,
  isIndexMediaType,
  isManifestMediaType,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type Index,
  type Manifest,
  type Platform,
} from '../oci/types.js';
import { StoreBlobWriter, type BlobWriter } from './blob-writer.js';
import { tempName, writeFileAtomic } from './fs.js';
import { collectGarbage } from './gc.js';
import { FileLock } from './lock.js';
import { parseIndex, parseJson, parseManifest, parseOciLayout } from './validate.js';

export type { BlobWriter } from './blob-writer.js';

const layoutVersion = '1.0.0';
const privateDirName = '.rootfs';
/** Nested indexes deeper than this are refused rather than followed (a loop, or hostile). */
const maxIndexDepth = 8;
/** index.json of the store: ours, one short entry per tag, so far above the 8 MiB of an archive's documents, and still bounded. */
const storeIndexSizeCap = 64 * 1024 * 1024;

/** $ROOTFS_STORE, else /var/lib/rootfs for root, else ${XDG_DATA_HOME:-~/.local/share}/rootfs. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ROOTFS_STORE) return env.ROOTFS_STORE;
  if (process.getuid?.() === 0) return '/var/lib/rootfs';
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(dataHome, 'rootfs');
}

export interface ResolvedImage {
  name?: string;                 // familiar name if resolved by tag
  descriptor: Descriptor;        // the index.json entry (a manifest, or an index for multi-platform)
  manifestDescriptor: Descriptor; // the chosen platform's manifest
  manifest: Manifest;
  config: ImageConfig;
}

export interface StoreImage {
  name: string;
  ref: ImageReference;
  descriptor: Descriptor;
}

export interface GcResult {
  removed: Digest[];
  freedBytes: number;
  tempFilesRemoved: number;
}

export class Store {
  private closed = false;

  private constructor(readonly dir: string, private readonly inUse: FileLock) {}

  /** Creates the layout if missing (unless create is false), validates oci-layout, and holds the shared in-use lock until close(). */
  static async open(dir: string, options: { create?: boolean } = {}): Promise<Store> {
    const root = resolvePath(dir);
    await prepareLayout(root, options.create ?? true);
    const inUse = await FileLock.open(join(root, privateDirName, 'in-use.lock'));
    await inUse.acquire(false);
    return new Store(root, inUse);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inUse.close();
  }

  blobPath(digest: Digest): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(parseDigest(digest, 'blob digest')));
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fromFsError(err, this.blobPath(digest));
    }
  }

  createBlobWriter(): BlobWriter {
    const tmp = join(this.dir, privateDirName, 'tmp');
    return new StoreBlobWriter({ tempPath: (kind) => tempName(tmp, kind), blobPath: (digest) => this.blobPath(digest) });
  }

  /** For small blobs (JSON documents); skips the write when the blob is already there. */
  async putBlob(data: Buffer): Promise<{ digest: Digest; size: number }> {
    const digest = sha256(data);
    if (await this.hasBlob(digest)) return { digest, size: data.length };
    const writer = this.createBlobWriter();
    try {
      await new Promise<void>((resolve, reject) => {
        writer.on('error', reject);
        writer.end(data, resolve);
      });
      return await writer.commit({ digest, size: data.length });
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** A verifying read: wrong bytes on disk fail the stream at its end; an absent blob fails it with NotFoundError. */
  openBlob(digest: Digest, size?: number): Readable {
    const path = this.blobPath(digest);
    const verifier = new VerifyingStream(digest, size, path);
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    file.on('error', (err) => verifier.destroy(this.blobError(err, digest, path)));
    // pipe() does not stop the source when the consumer gives up: close the file with the verifier.
    verifier.on('close', () => file.destroy());
    return file.pipe(verifier);
  }

  async readBlob(digest: Digest, size?: number): Promise<Buffer> {
    return buffer(this.openBlob(digest, size));
  }

  async readJson<T>(digest: Digest, size?: number): Promise<T> {
    return parseJson((await this.readBlob(digest, size)).toString('utf8'), this.blobPath(digest)) as T;
  }

  async readIndex(): Promise<Index> {
    const path = join(this.dir, 'index.json');
    return parseIndex(parseJson((await readMetadata(path, storeIndexSizeCap, 'an image index')).toString('utf8'), path), path);
  }

  /**
   * Exclusive index lock, fresh read of index.json, fn mutates it, then temp
   * file + fsync + rename (+ fsync dir). The lock is released either way; if
   * fn throws, index.json is untouched, and if fn changed nothing it is not rewritten.
   */
  async updateIndex<T>(fn: (index: Index) => T | Promise<T>): Promise<T> {
    const lock = await FileLock.open(join(this.dir, privateDirName, 'index.lock'));
    try {
      await lock.acquire(true);
      const index = await this.readIndex();
      const before = JSON.stringify(index);
      const result = await fn(index);
      const after = JSON.stringify(index);
      if (after !== before) {
        parseIndex(index, 'updated index.json');
        await writeFileAtomic(join(this.dir, 'index.json'), after, { tempDir: join(this.dir, privateDirName, 'tmp') });
      }
      return result;
    } finally {
      await lock.close();
    }
  }

  /** Points ref (a name with a tag) at descriptor, replacing the entry with the same name. */
  async tag(ref: ImageReference, descriptor: Descriptor): Promise<void> {
    if (!isTagReference(ref)) throw new UsageError(`cannot tag ${familiarName(ref)}: a tag needs name:tag, not a digest`);
    if (!(await this.hasBlob(descriptor.digest))) throw new NotFoundError(`cannot tag ${familiarName(ref)}: blob ${descriptor.digest} is not in the store ${this.dir}`);
    const { annotations, ...rest } = descriptor;
    const kept = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== Annotation.RefName && key !== Annotation.ContainerdImageName));
    const entry: Descriptor = { ...rest, annotations: { ...kept, [Annotation.RefName]: familiarName(ref), [Annotation.ContainerdImageName]: fullName(ref) } };
    await this.updateIndex((index) => {
      const at = index.manifests.findIndex((existing) => sameName(entryReference(existing), ref));
      if (at >= 0) {
        index.manifests[at] = entry;
        index.manifests = index.manifests.filter((existing, i) => i === at || !sameName(entryReference(existing), ref));
      } else {
        index.manifests.push(entry);
      }
    });
  }

  /**
   * Removes the entries named ref (name:tag; name@digest removes that
   * repository's entries for the digest). False when there were none.
   */
  async untag(ref: ImageReference): Promise<boolean> {
    return this.updateIndex((index) => {
      const before = index.manifests.length;
      index.manifests = index.manifests.filter((entry) => {
        const named = entryReference(entry);
        if (!named || named.registry !== ref.registry || named.repository !== ref.repository) return true;
        if (ref.digest !== undefined) return entry.digest !== ref.digest || (ref.tag !== undefined && named.tag !== ref.tag);
        return named.tag !== ref.tag;
      });
      return index.manifests.length !== before;
    });
  }

  async listImages(): Promise<StoreImage[]> {
    const images: StoreImage[] = [];
    for (const descriptor of (await this.readIndex()).manifests) {
      const ref = entryReference(descriptor);
      if (ref) images.push({ name: familiarName(ref), ref, descriptor });
    }
    return images;
  }

  /**
   * Finds an image by name[:tag], name@digest, or full or short (≥ 4 hex
   * characters, unambiguous) image ID (config digest, as docker) or manifest
   * digest. Names are tried first, as docker does, then IDs. An index is
   * narrowed to one manifest for platform (default: this machine's).
   */
  async resolve(text: string, platform: Platform = hostPlatform()): Promise<ResolvedImage> {
    const fullId = /^(?:sha256:)?([a-f0-9]{64})$/.exec(text);
    if (fullId) return this.resolveId(text, `sha256:${fullId[1]}`, true, platform);
    // A short ID ("3f2a", "sha256:3f2a") is also a valid name ("3f2a:latest", "sha256:3f2a"), so it is tried as one first.
    const ref = parseReference(text);
    if (ref.digest !== undefined) return this.resolveId(text, ref.digest, true, platform, familiarName(ref));
    const entry = (await this.readIndex()).manifests.find((candidate) => sameName(entryReference(candidate), ref));
    if (entry) return this.resolveEntry(entry, platform, familiarName(ref));
    const shortId = /^(?:sha256:)?([a-f0-9]{4,63})$/.exec(text);
    if (shortId) return this.resolveId(text, `sha256:${shortId[1]}`, false, platform);
    throw new NotFoundError(`no such image: ${text}`);
  }

  /** An index.json entry → the manifest for platform and its config. */
  async resolveEntry(entry: Descriptor, platform: Platform = hostPlatform(), name?: string): Promise<ResolvedImage> {
    const manifestDescriptor = await this.pickManifest(entry, platform, 0);
    const manifest = parseManifest(await this.readJson<unknown>(manifestDescriptor.digest, manifestDescriptor.size), this.blobPath(manifestDescriptor.digest));
    const config = await this.readJson<ImageConfig>(manifest.config.digest, manifest.config.size);
    if (typeof config !== 'object' || config === null || !config.rootfs || !Array.isArray(config.rootfs.diff_ids)) {
      throw new InvalidInputError(this.blobPath(manifest.config.digest), 'not an image config (no rootfs.diff_ids)');
    }
    return { ...(name !== undefined ? { name } : {}), descriptor: entry, manifestDescriptor, manifest, config };
  }

  /**
   * Removes unreferenced blobs and all temp files, holding the in-use lock
   * exclusively so no other command runs meanwhile. It waits for every other
   * open Store on this directory, including ones in this process: close them
   * first. With wait false it throws LockedError instead of waiting.
   */
  async gc(options: { wait?: boolean; onWait?: () => void } = {}): Promise<GcResult> {
    if (options.wait === false) {
      if (!this.inUse.try(true)) {
        // The failed upgrade dropped our shared lock (see FileLock.acquire); take it back before reporting.
        await this.inUse.acquire(false);
        throw new LockedError(`${this.dir}: other rootfs commands are using the store; gc runs when they have finished`);
      }
    } else await this.inUse.acquire(true, options.onWait);
    try {
      return await collectGarbage(this, join(this.dir, privateDirName, 'tmp'));
    } finally {
      // Downgrading never waits.
      await this.inUse.acquire(false);
    }
  }

  private async pickManifest(descriptor: Descriptor, platform: Platform, depth: number): Promise<Descriptor> {
    if (isManifestMediaType(descriptor.mediaType)) return descriptor;
    const where = this.blobPath(descriptor.digest);
    if (!isIndexMediaType(descriptor.mediaType)) throw new InvalidInputError(where, `not an image manifest or index (media type ${descriptor.mediaType})`);
    if (depth >= maxIndexDepth) throw new InvalidInputError(where, `indexes nested more than ${maxIndexDepth} deep`);
    const index = parseIndex(await this.readJson<unknown>(descriptor.digest, descriptor.size), where);
    const usable = index.manifests.filter((child) => isManifestMediaType(child.mediaType) || isIndexMediaType(child.mediaType));
    const chosen = usable.find((child) => platformMatches(platform, child.platform)) ?? (usable.length === 1 && !usable[0]!.platform ? usable[0] : undefined);
    if (!chosen) throw new NotFoundError(`${where}: no manifest for platform ${formatPlatform(platform)} in the image index`);
    return this.pickManifest(chosen, platform, depth + 1);
  }

  /** Lookup by digest: exact, or a prefix that must designate exactly one image. */
  private async resolveId(text: string, digest: Digest | string, exact: boolean, platform: Platform, name?: string): Promise<ResolvedImage> {
    const matches = (candidate: Digest): boolean => (exact ? candidate === digest : candidate.startsWith(digest));
    const found = new Map<string, () => Promise<ResolvedImage>>();
    for (const entry of (await this.readIndex()).manifests) {
      if (matches(entry.digest)) found.set(entry.digest, () => this.resolveEntry(entry, platform, name));
      for (const child of await this.manifestsOf(entry)) {
        if (!matches(child.descriptor.digest) && !matches(child.manifest.config.digest)) continue;
        found.set(child.descriptor.digest, async () => {
          const config = await this.readJson<ImageConfig>(child.manifest.config.digest, child.manifest.config.size);
          return { ...(name !== undefined ? { name } : {}), descriptor: entry, manifestDescriptor: child.descriptor, manifest: child.manifest, config };
        });
      }
    }
    if (found.size === 0) throw new NotFoundError(`no such image: ${text}`);
    if (found.size > 1) throw new UsageError(`${text} is ambiguous: it matches ${[...found.keys()].map((d) => digestHex(d as Digest).slice(0, 12)).join(', ')}; give more of the ID`);
    return [...found.values()][0]!();
  }

  /** The manifests an index.json entry stands for: itself, or an index's children (one level, what docker shows). */
  private async manifestsOf(entry: Descriptor): Promise<Array<{ descriptor: Descriptor; manifest: Manifest }>> {
    const children = isManifestMediaType(entry.mediaType)
      ? [entry]
      : isIndexMediaType(entry.mediaType)
        ? parseIndex(await this.readJson<unknown>(entry.digest, entry.size), this.blobPath(entry.digest)).manifests.filter((child) => isManifestMediaType(child.mediaType))
        : [];
    const out: Array<{ descriptor: Descriptor; manifest: Manifest }> = [];
    for (const descriptor of children) {
      if (!(await this.hasBlob(descriptor.digest))) continue;
      out.push({ descriptor, manifest: parseManifest(await this.readJson<unknown>(descriptor.digest, descriptor.size), this.blobPath(descriptor.digest)) });
    }
    return out;
  }

  private blobError(err: unknown, digest: Digest, path: string): Error {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new NotFoundError(`blob ${digest} is not in the store ${this.dir}`, { cause: err });
    return fromFsError(err, path) as Error;
  }
}

/** The reference an index.json entry is tagged with, if any (entries with unparsable names are not ours to interpret). */
function entryReference(entry: Descriptor): ImageReference | undefined {
  const name = entry.annotations?.[Annotation.RefName];
  if (name === undefined) return undefined;
  try {
    return parseReference(name);
  } catch {
    return undefined;
  }
}

function sameName(a: ImageReference | undefined, b: ImageReference): boolean {
  return a !== undefined && a.registry === b.registry && a.repository === b.repository && a.tag === b.tag;
}

/**
 * Validates an existing layout or creates a new one. A directory that holds
 * other things and no oci-layout is refused: --store pointed at the wrong
 * place must not get blobs sprayed into it.
 */
async function prepareLayout(dir: string, create: boolean): Promise<void> {
  const layoutPath = join(dir, 'oci-layout');
  let layoutText: string | undefined;
  try {
    layoutText = (await readMetadataIfExists(layoutPath, metadataSizeCap, 'an oci-layout file'))?.toString('utf8');
  } catch (err) {
    if (((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOTDIR') throw new HostIoError(`${dir}: not a directory`, { cause: err });
    throw err;
  }
  const privateTmp = join(dir, privateDirName, 'tmp');
  if (layoutText !== undefined) {
    parseOciLayout(layoutText, layoutPath);
    await makeDirs(privateTmp, join(dir, 'blobs', 'sha256'));
    return;
  }
  if (!create) throw new NotFoundError(`${dir}: no image store here (no oci-layout file)`);
  let existing: string[] = [];
  try {
    existing = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, dir);
  }
  // These are what an interrupted creation leaves, or a concurrent one (oci-layout, written since we looked for it);
  // anything else means the directory is someone else's.
  const foreign = existing.filter((name) => name !== privateDirName && name !== 'blobs' && name !== 'index.json' && name !== 'oci-layout');
  if (foreign.length > 0) throw new InvalidInputError(dir, `not an OCI image layout (no oci-layout file) and not empty; refusing to use it as a store`);
  await makeDirs(privateTmp, join(dir, 'blobs', 'sha256'));
  // Creation runs under the index lock so two first commands do not both write index.json; oci-layout comes last and marks the layout complete.
  const lock = await FileLock.open(join(dir, privateDirName, 'index.lock'));
  try {
    await lock.acquire(true);
    const indexPath = join(dir, 'index.json');
    try {
      parseIndex(parseJson((await readMetadata(indexPath, storeIndexSizeCap, 'an image index')).toString('utf8'), indexPath), indexPath);
    } catch (err) {
      if (!isMissing(err) && !(err instanceof InvalidInputError)) throw err;
      const empty: Index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
      await writeFileAtomic(indexPath, JSON.stringify(empty), { tempDir: privateTmp });
    }
    await writeFileAtomic(layoutPath, JSON.stringify({ imageLayoutVersion: layoutVersion }), { tempDir: privateTmp });
  } finally {
    await lock.close();
  }
}

async function makeDirs(...dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw fromFsError(err, dir);
    }
  }
}
