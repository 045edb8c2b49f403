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
 * Memory is the index (typed arrays, ~130 bytes a path with its content sum), never a file's content.
 */
import { captureAnnotations, trustedBefore, wallClockNs } from '../layers/capture.js';
import { compareTree } from '../layers/compare.js';
import { deltaTar, type DeltaSummary } from '../layers/delta.js';
import { imageMembers, type TreeMember } from '../layers/members.js';
import { layerWhere } from '../layers/plan.js';
import { indexTree, TreeIndex } from '../layers/tree-index.js';
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
  /** A base layer whose media type its bytes contradict, read as the bytes say (oci/layer-media.ts). */
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
 * Its layers are read whole, so they are checked as load checks an archive's:
 * one per diff_id, a layer media type, each decompressing to its diff_id.
 */
export async function indexImage(store: Store, image: ResolvedImage, where: string, onNotice?: (message: string) => void): Promise<TreeIndex> {
  const { manifest, config } = image;
  const configName = manifest.config.digest;
  checkDiffIdCount(`${where}: manifest ${image.manifestDescriptor.digest}`, manifest.layers.length, config.rootfs.diff_ids, configName);
  for (const [i, layer] of manifest.layers.entries()) layerMediaTypeCompression(layer.mediaType, layerWhere(where, i, layer));
  if (manifest.layers.length === 0) return new TreeIndex();
  return indexTree(imageMembers(store, manifest.layers, where, { verify: { diffIds: config.rootfs.diff_ids, configName }, ...(onNotice ? { onWarning: onNotice } : {}) }), where);
}

export async function commitDelta(store: Store, base: ResolvedImage, baseRef: string, members: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: DeltaOptions): Promise<DeltaResult> {
  const old = await indexImage(store, base, baseRef, options.onNotice);
  options.onIndexed?.(old.entries);
  const summary: DeltaSummary = { added: 0, changed: 0, deleted: 0, kept: 0, bytes: 0 };
  let started: bigint | undefined;
  const changes = compareTree(old, walkStart(members, (now) => (started = now)), {
    where: options.source,
    checksum: options.checksum,
    trustedBefore: trustedBefore(base.manifest.annotations, options.origin),
    withContent: true,
    oldContent: (reps) => contentOf(store, base, baseRef, old, reps),
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
