/**
 * Mark and sweep over the store. Marking follows descriptors from index.json:
 * indexes and manifests are read and their children followed; layers and
 * configs are leaves; a blob of a media type we do not know is kept, and so is
 * whatever it references through descriptor-shaped JSON (artifacts, signatures).
 * A referenced manifest that cannot be read stops gc before anything is removed.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError } from '../errors.js';
import { MediaType, layerCompression, type Digest, type Index } from '../oci/types.js';
import { fsyncPath } from '../io/durable.js';
import { documentCaps } from '../io/metadata.js';
import { walkImage } from '../oci/walk.js';


const leafMediaTypes = new Set<string>([MediaType.ImageConfig, MediaType.DockerConfig]);

export interface GcResult {
  removed: Digest[];
  freedBytes: number;
  tempFilesRemoved: number;
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
export async function collectGarbage(store: CollectableStore, tempDir: string): Promise<GcResult> {
  const keep = await markReferenced(store);
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
    const path = join(tempDir, name);
    try {
      freedBytes += (await lstat(path)).size;
      await rm(path, { recursive: true, force: true });
    } catch (err) {
      throw fromFsError(err, path);
    }
    tempFilesRemoved++;
  }
  return { removed, freedBytes, tempFilesRemoved };
}

async function markReferenced(store: CollectableStore): Promise<Set<Digest>> {
  const keep = new Set<Digest>();
  const walk = walkImage((await store.readIndex()).manifests, {
    // A layout MAY omit referenced blobs.
    read: async (descriptor) => ((await store.hasBlob(descriptor.digest)) ? store.readBlob(descriptor.digest, descriptor.size) : undefined),
    where: (descriptor) => store.blobPath(descriptor.digest),
    // Unknown blobs larger than any image document are not opened to look for descriptors.
    readUnknownUpTo: documentCaps.image,
    isLeaf: (descriptor) => layerCompression(descriptor.mediaType) !== undefined || leafMediaTypes.has(descriptor.mediaType),
  });
  for await (const { descriptor } of walk) keep.add(descriptor.digest);
  return keep;
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromFsError(err, dir);
  }
}
