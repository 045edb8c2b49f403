/**
 * `rootfs import … --base`, `rootfs commit`, and `rootfs append` of a
 * directory: a new tree compared with an image's merged tree, and only what
 * differs written as one layer on top of that image's layers (docs/incremental.md).
 *
 *   base layers → index (metadata, content sums)
 *   new tree → compare → delta tar → layer blob → config + manifest
 *
 * A directory's image records when its walk began (layers/capture.ts), which
 * its next re-capture needs to trust files without reading them.
 *
 * The base's index is kept in the store, named by the ChainID of its layers
 * (layers/tree-index-file.ts), and so is the new image's, made from what the
 * compare saw: a re-capture of an unchanged tree reads no layer.
 *
 * Memory is the base's index and the new tree's over one trie (typed arrays, ~150 bytes a path with the content sums), never a file's content.
 */
import { captureAnnotations, trustedBefore, wallClockNs } from '../layers/capture.js';
import { compareTree, RecordedTree } from '../layers/compare.js';
import { deltaTar, type DeltaSummary } from '../layers/changes-tar.js';
import { imageMembers, type TreeMember } from '../layers/members.js';
import { layerWhere } from '../layers/plan.js';
import { indexTree, TreeIndex } from '../layers/tree-index.js';
import { readTreeIndexFile, treeIndexChunks, TreeIndexFileError } from '../layers/tree-index-file.js';
import { NotFoundError, RootfsError } from '../errors.js';
import { isMissing } from '../io/metadata.js';
import { chainId } from '../oci/digest.js';
import { checkDiffIdCount, layerMediaTypeCompression } from '../oci/validate.js';
import type { ImageReference } from '../oci/reference.js';
import { Annotation, type Descriptor, type Digest, type Platform } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { ResolvedImage } from '../store/resolve.js';
import { safeMemberPath } from '../tar/paths.js';
import { deriveImage } from './derive.js';
import { storeLayer, type LayerOptions } from './layer.js';

export interface DeltaOptions extends LayerOptions {
  /** Names the new tree in errors and history. */
  source: string;
  tags: ImageReference[];
  /** Compare file contents too where metadata is equal, for every file (a tar's and racy files' are always compared). */
  checksum?: boolean;
  /** The new tree is a directory on disk: which one (capture.ts treeOrigin). */
  origin?: string;
  changes?: string[];
  message?: string;
  platform?: Platform;
  created?: Date;
  /** How the history entry names the command ("rootfs import root.tar --base host:v1"). */
  createdBy: string;
  onIndexed?: (entries: number) => void;
  /** Said and gone on past (not failures): a base layer whose media type its bytes contradict (oci/layer-media.ts); a tree index file that is damaged or cannot be kept. */
  onNotice?: (message: string) => void;
}


export interface DeltaResult {
  imageId: Digest;
  manifest: Descriptor;
  layer: Descriptor;
  diffId: Digest;
  summary: DeltaSummary;
}

/**
 * Indexes an image's merged tree (an image without layers is the empty tree).
 * Its manifest is checked first (one layer per diff_id, each a layer media
 * type). The index comes from the store's tree index file of its chain when
 * there is one whole: a file is only ever written from layers read and
 * checked (each decompressing to its diff_id) or from a layer this store
 * wrote itself, and the diff_ids it is named by are those contents, so the
 * layers are not read again; they must still be in the store. Else the
 * layers are read whole and checked as load checks an archive's.
 */
export async function indexImage(store: Store, image: ResolvedImage, where: string, onNotice?: (message: string) => void): Promise<TreeIndex> {
  return (await imageIndex(store, image, where, onNotice)).tree;
}

/** indexImage, saying whether the index was built from the layers: a command that writes keeps it once it has succeeded. */
async function imageIndex(store: Store, image: ResolvedImage, where: string, onNotice: ((message: string) => void) | undefined): Promise<{ tree: TreeIndex; built: boolean }> {
  const { manifest, config } = image;
  const configName = manifest.config.digest;
  checkDiffIdCount(`${where}: manifest ${image.manifestDescriptor.digest}`, manifest.layers.length, config.rootfs.diff_ids, configName);
  for (const [i, layer] of manifest.layers.entries()) layerMediaTypeCompression(layer.mediaType, layerWhere(where, i, layer));
  if (manifest.layers.length === 0) return { tree: new TreeIndex(), built: false };
  const kept = await keptIndex(store, chainId(config.rootfs.diff_ids), onNotice);
  if (kept) {
    for (const layer of manifest.layers) if (!(await store.hasBlob(layer.digest))) throw new NotFoundError(`${where}: blob ${layer.digest} is not in the store ${store.dir}`);
    return { tree: kept, built: false };
  }
  return { tree: await indexTree(imageMembers(store, manifest.layers, where, { verify: { diffIds: config.rootfs.diff_ids, configName }, ...(onNotice ? { onWarning: onNotice } : {}) }), where), built: true };
}

/** The store's index of the tree with this chain; undefined when there is none, or it is damaged (said, and built again). */
async function keptIndex(store: Store, chain: Digest, onNotice: ((message: string) => void) | undefined): Promise<TreeIndex | undefined> {
  const path = store.treeIndexPath(chain);
  try {
    return await readTreeIndexFile(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    if (!(err instanceof TreeIndexFileError || err instanceof RootfsError)) throw err;
    onNotice?.(`${path}: tree index ignored (${err.message.replace(`${path}: `, '')}); reading the layers instead`);
    return undefined;
  }
}

/** Keeps an index for the next re-capture; one that cannot be written costs that re-capture a read of the layers, nothing else. */
async function keepIndex(store: Store, chain: Digest, tree: TreeIndex, where: string, onNotice: ((message: string) => void) | undefined): Promise<void> {
  try {
    await store.writeTreeIndex(chain, treeIndexChunks(tree));
  } catch (err) {
    if (!(err instanceof TreeIndexFileError || err instanceof RootfsError)) throw err;
    onNotice?.(`${where}: its tree index not kept (${err.message}); the next re-capture on it reads its layers`);
  }
}

export async function commitDelta(store: Store, base: ResolvedImage, baseRef: string, members: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: DeltaOptions): Promise<DeltaResult> {
  const { tree: old, built } = await imageIndex(store, base, baseRef, options.onNotice);
  options.onIndexed?.(old.entries);
  const recorded = new RecordedTree(old);
  const summary: DeltaSummary = { added: 0, changed: 0, deleted: 0, kept: 0, bytes: 0 };
  let started: bigint | undefined;
  const changes = compareTree(old, walkStart(members, (now) => (started = now)), {
    where: options.source,
    checksum: options.checksum,
    trustedBefore: trustedBefore(base.manifest.annotations, options.origin),
    withContent: true,
    oldContent: (reps) => contentOf(store, base, baseRef, old, reps),
    record: recorded,
  });
  const stored = await storeLayer(store, deltaTar(changes, old.index, summary), options);
  const image = await deriveImage(store, base, {
    add: [stored],
    changes: options.changes,
    platform: options.platform,
    createdBy: options.createdBy,
    comment: options.message,
    created: options.created,
    // The new tree is a snapshot of the directory from the walk's start on: files not carried were trusted or hashed.
    annotations: { ...baseAnnotations(base, baseRef), ...(options.origin !== undefined && started !== undefined ? captureAnnotations(started, options.origin) : {}) },
    tags: options.tags,
  });
  // Kept only now, the image made: a command that fails leaves the store as it was.
  const baseIds = base.config.rootfs.diff_ids;
  if (built) await keepIndex(store, chainId(baseIds), old, baseRef, options.onNotice);
  if (recorded.whole) {
    const chain = chainId([...baseIds, stored.diffId]);
    // Nothing carried: the new tree is the base's, and so is its index file (a link, not a write).
    const carried = summary.added + summary.changed + summary.deleted + summary.kept > 0;
    const linked = !carried && baseIds.length > 0 && (await store.linkTreeIndex(chainId(baseIds), chain).catch((err: unknown) => {
        // Not linked: written instead, and a failure of that is said.
        if (err instanceof RootfsError) return false;
        throw err;
      }));
    if (!linked) await keepIndex(store, chain, recorded.tree, image.imageId, options.onNotice);
  }
  return { ...image, ...stored, summary };
}

/** image-spec's base annotations: which image this one was made on, for rebase and for people. */
export function baseAnnotations(base: ResolvedImage, baseRef: string): Record<string, string> {
  return { [Annotation.BaseName]: base.name ?? baseRef, [Annotation.BaseDigest]: base.manifestDescriptor.digest };
}

/** The members, telling `onStart` the time just before the first is asked for: when a lazy walk begins. */
async function* walkStart(members: AsyncIterable<TreeMember> | Iterable<TreeMember>, onStart: (now: bigint) => void): AsyncGenerator<TreeMember, void, undefined> {
  onStart(wallClockNs());
  yield* members;
}

/**
 * The bodies of the base's files at the given nodes, reading its layers
 * again. Read to the end: stopping the flatten between members leaves a
 * read-ahead body of the layer's tar to fail unheard.
 */
async function* contentOf(store: Store, base: ResolvedImage, baseRef: string, old: TreeIndex, reps: Set<number>) {
  for await (const { entry, content } of imageMembers(store, base.manifest.layers, baseRef)) {
    if (!content) continue;
    const node = old.index.lookup(safeMemberPath(entry.path, baseRef));
    if (reps.has(node)) yield { node, entry, content };
  }
}
