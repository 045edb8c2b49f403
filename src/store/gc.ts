/**
 * Mark and sweep over the store. Marking follows descriptors from index.json:
 * indexes and manifests are read and their children followed; layers and
 * configs are leaves; a blob of a media type we do not know is kept, and so is
 * whatever it references through descriptor-shaped JSON (artifacts, signatures).
 * A referenced manifest that cannot be read stops gc before anything is removed.
 * Tree index files (named by a ChainID) go when no image left has that chain;
 * an image config that cannot be read keeps them all.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError } from '../errors.js';
import { MediaType, layerCompression, type Descriptor, type Digest, type Index } from '../oci/types.js';
import { chainId, digestHex } from '../oci/digest.js';
import { parseImageConfig, parseJson } from '../oci/validate.js';
import { fsyncPath } from '../io/durable.js';
import { documentCaps } from '../io/metadata.js';
import { walkImage } from '../oci/walk.js';


const leafMediaTypes = new Set<string>([MediaType.ImageConfig, MediaType.DockerConfig]);

export interface GcResult {
  removed: Digest[];
  freedBytes: number;
  tempFilesRemoved: number;
  treeIndexesRemoved: number;
}

/** What gc reads of the store: named here so that gc.ts needs nothing of store.ts, which calls it. */
export interface CollectableStore {
  readonly dir: string;
  readIndex(): Promise<Index>;
  hasBlob(digest: Digest): Promise<boolean>;
  readBlob(digest: Digest, size?: number): Promise<Buffer>;
  blobPath(digest: Digest): string;
  /** The digests blobs/sha256/ holds, sorted; other names are not ours to judge. */
  listBlobs(): Promise<Digest[]>;
  removeBlob(digest: Digest): Promise<void>;
}

/** Must run with the store's in-use lock held exclusively. */
export async function collectGarbage(store: CollectableStore, tempDir: string, treeIndexDir: string): Promise<GcResult> {
  const { keep, configs } = await markReferenced(store);
  const removed: Digest[] = [];
  let freedBytes = 0;
  for (const digest of await store.listBlobs()) {
    if (keep.has(digest)) continue;
    const path = store.blobPath(digest);
    try {
      freedBytes += (await lstat(path)).size;
    } catch (err) {
      throw fromFsError(err, path);
    }
    await store.removeBlob(digest);
    removed.push(digest);
  }
  if (removed.length > 0) await fsyncPath(join(store.dir, 'blobs', 'sha256'));
  let tempFilesRemoved = 0;
  for (const name of await list(tempDir)) {
    freedBytes += await removeCounted(join(tempDir, name));
    tempFilesRemoved++;
  }
  const indexes = await sweepTreeIndexes(store, treeIndexDir, configs);
  return { removed, freedBytes: freedBytes + indexes.bytes, tempFilesRemoved, treeIndexesRemoved: indexes.removed };
}

/** Removes the tree index files whose chain no image config names any more. */
async function sweepTreeIndexes(store: CollectableStore, dir: string, configs: Descriptor[]): Promise<{ removed: number; bytes: number }> {
  const names = (await list(dir)).filter((name) => /^[a-f0-9]{64}$/.test(name));
  if (names.length === 0) return { removed: 0, bytes: 0 };
  const chains = new Set<string>();
  for (const config of configs) {
    try {
      const { diff_ids: diffIds } = parseImageConfig(parseJson((await store.readBlob(config.digest, config.size)).toString('utf8'), store.blobPath(config.digest)), store.blobPath(config.digest)).rootfs;
      if (diffIds.length > 0) chains.add(digestHex(chainId(diffIds)));
    } catch {
      // Which chains are still used is not known: none is removed.
      return { removed: 0, bytes: 0 };
    }
  }
  let removed = 0;
  let bytes = 0;
  for (const name of names) {
    if (chains.has(name)) continue;
    bytes += await removeCounted(join(dir, name));
    removed++;
  }
  if (removed > 0) await fsyncPath(dir);
  return { removed, bytes };
}

/** The blobs index.json reaches, and the image configs among them (their chains keep their tree indexes). */
async function markReferenced(store: CollectableStore): Promise<{ keep: Set<Digest>; configs: Descriptor[] }> {
  const keep = new Set<Digest>();
  const configs: Descriptor[] = [];
  const walk = walkImage((await store.readIndex()).manifests, {
    // A layout MAY omit referenced blobs.
    read: async (descriptor) => ((await store.hasBlob(descriptor.digest)) ? store.readBlob(descriptor.digest, descriptor.size) : undefined),
    where: (descriptor) => store.blobPath(descriptor.digest),
    // Unknown blobs larger than any image document are not opened to look for descriptors.
    readUnknownUpTo: documentCaps.image,
    isLeaf: (descriptor) => layerCompression(descriptor.mediaType) !== undefined || leafMediaTypes.has(descriptor.mediaType),
  });
  for await (const { descriptor, document } of walk) {
    keep.add(descriptor.digest);
    if (document?.kind === 'manifest' && leafMediaTypes.has(document.manifest.config.mediaType) && (await store.hasBlob(document.manifest.config.digest))) configs.push(document.manifest.config);
  }
  return { keep, configs };
}

/** Removes a file (or a temp directory); its size, for what gc freed. */
async function removeCounted(path: string): Promise<number> {
  try {
    const { size } = await lstat(path);
    await rm(path, { recursive: true, force: true });
    return size;
  } catch (err) {
    throw fromFsError(err, path);
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromFsError(err, dir);
  }
}
