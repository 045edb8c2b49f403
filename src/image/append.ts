/**
 * `rootfs append`: a layer added on top of an image, as crane append: a
 * tarball as it is (checked and recompressed, its diff_id its own), or a
 * directory read as pack would read it.
 */
import type { Readable } from 'node:stream';
import { openInput } from '../io/input.js';
import type { ImageReference } from '../oci/reference.js';
import type { Store } from '../store/store.js';
import { deriveImage, type DerivedImage } from './derive.js';
import { importLayer, membersLayer } from './import.js';
import type { LayerOptions, StoredLayer } from './layer.js';
import { resolveImage } from '../store/resolve.js';
import { openTree, pathKind, type TreeChoice, type TreeInput } from './tree-input.js';

/** A tarball as it is, or a tree (a directory, or a tarball through path rules) as members. */
export type AppendInput = { tar: Readable } | TreeInput;

/** What append adds: a tarball given no tree option is added as it is (its own diff_id, as crane append); anything else as a tree, through the same rules. */
export async function openAppendInput(path: string, tree: TreeChoice): Promise<AppendInput> {
  if (pathKind(path) !== 'directory' && !tree.tarball(path === '-' ? 'stdin' : path)) return { tar: (await openInput(path, 'a tarball or directory', '')).stream };
  return openTree(path, tree);
}

export interface AppendOptions extends LayerOptions {
  source: string;
  /** Default: REF's own tag, if it was found by one. */
  tags?: ImageReference[];
  message?: string;
  created?: Date;
}

export async function appendLayer(store: Store, ref: string, input: AppendInput, options: AppendOptions): Promise<DerivedImage & StoredLayer> {
  const image = await resolveImage(store, ref);
  const stored = 'tar' in input ? await importLayer(store, input.tar, options) : await membersLayer(store, input.members, options);
  const derived = await deriveImage(store, image, {
    add: [stored],
    createdBy: `rootfs append ${options.source}`,
    comment: options.message,
    created: options.created,
    tags: options.tags,
  });
  return { ...derived, layer: stored.layer, diffId: stored.diffId };
}
