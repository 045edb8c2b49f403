/**
 * `rootfs import … --base`, `rootfs commit`, and `rootfs append` of a
 * directory: a new tree compared with an image's merged tree, and only what
 * differs written as one layer on top of that image's layers (docs/incremental.md).
 *
 *   base layers → index (metadata; content sums with --checksum)
 *   new tree → compare → delta tar → layer blob → config + manifest
 *
 * Memory is the index (typed arrays, ~100 bytes a path), never a file's content.
 */
import { compareTree } from '../layers/compare.js';
import { deltaTar, type DeltaSummary } from '../layers/delta.js';
import { imageMembers, type TreeMember } from '../layers/members.js';
import { indexTree, TreeIndex } from '../layers/tree-index.js';
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
  /** Compare file contents too where metadata is equal. */
  checksum?: boolean;
  changes?: string[];
  message?: string;
  platform?: Platform;
  created?: Date;
  /** How the history entry names the command ("rootfs import root.tar --base host:v1"). */
  createdBy: string;
  onIndexed?: (entries: number) => void;
}

export interface DeltaResult {
  imageId: Digest;
  manifest: Descriptor;
  layer: Descriptor;
  diffId: Digest;
  summary: DeltaSummary;
}

/** Indexes an image's merged tree (an image without layers is the empty tree). */
export async function indexImage(store: Store, image: ResolvedImage, where: string, checksum = false): Promise<TreeIndex> {
  if (image.manifest.layers.length === 0) return new TreeIndex(checksum);
  return indexTree(imageMembers(store, image.manifest.layers, where), where, checksum);
}

export async function commitDelta(store: Store, base: ResolvedImage, baseRef: string, members: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: DeltaOptions): Promise<DeltaResult> {
  const old = await indexImage(store, base, baseRef, options.checksum);
  options.onIndexed?.(old.entries);
  const summary: DeltaSummary = { added: 0, changed: 0, deleted: 0, kept: 0, bytes: 0 };
  const changes = compareTree(old, members, {
    where: options.source,
    checksum: options.checksum,
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
    annotations: baseAnnotations(base, baseRef),
    tags: options.tags,
  });
  return { ...image, ...stored, summary };
}

/** image-spec's base annotations: which image this one was made on, for rebase and for people. */
export function baseAnnotations(base: ResolvedImage, baseRef: string): Record<string, string> {
  return { [Annotation.BaseName]: base.name ?? baseRef, [Annotation.BaseDigest]: base.manifestDescriptor.digest };
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
