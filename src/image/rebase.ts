/**
 * `rootfs rebase`: an image's lower layers (those of its old base) replaced
 * by a new base's, as crane rebase does: same upper layers, same config, the
 * new base's history in place of the old one's. Refused unless the image's
 * lower layers are exactly the old base's (by diff_id).
 */
import { NotFoundError, UsageError } from '../errors.js';
import type { ImageReference } from '../oci/reference.js';
import { parseDigest } from '../oci/digest.js';
import { Annotation, type Descriptor } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { ResolvedImage } from '../store/resolve.js';
import { baseAnnotations } from './recapture.js';
import { deriveImage, type DerivedImage } from './derive.js';
import { readImage, resolveImage } from '../store/resolve.js';

export interface RebaseOptions {
  /** Default: the image's base annotations. */
  oldBase?: string;
  newBase: string;
  /** Default: REF's own tag, if it was found by one. */
  tags?: ImageReference[];
  created?: Date;
}

export interface RebaseResult extends DerivedImage {
  oldBase: string;
  replaced: number;
  kept: number;
  /** The new base's layers are the old base's: nothing was written, and the ID and manifest are the image's own. */
  unchanged: boolean;
}

export async function rebaseImage(store: Store, ref: string, options: RebaseOptions): Promise<RebaseResult> {
  const image = await resolveImage(store, ref);
  const { image: oldBase, name: oldName } = options.oldBase !== undefined ? { image: await resolveImage(store, options.oldBase), name: options.oldBase } : await annotatedBase(store, image, ref);
  const oldIds = oldBase.config.rootfs.diff_ids;
  const ids = image.config.rootfs.diff_ids;
  const differs = oldIds.findIndex((id, i) => ids[i] !== id);
  if (oldIds.length >= ids.length || differs >= 0) {
    const why = differs >= 0 ? `its layer ${differs + 1} is ${ids[differs]?.slice(0, 19) ?? 'missing'}, the base's ${oldIds[differs]!.slice(0, 19)}` : `it has no layers above the base's ${oldIds.length}`;
    throw new UsageError(`${ref} is not built on ${oldName}: ${why}`);
  }
  const newBase = await resolveImage(store, options.newBase);
  const newIds = newBase.config.rootfs.diff_ids;
  if (newIds.length === oldIds.length && newIds.every((id, i) => id === oldIds[i])) {
    return { imageId: image.manifest.config.digest, manifest: image.manifestDescriptor, tags: [], oldBase: oldName, replaced: 0, kept: ids.length - oldIds.length, unchanged: true };
  }
  const result = await deriveImage(store, image, {
    lower: {
      drop: oldIds.length,
      dropHistory: oldBase.config.history?.length ?? 0,
      layers: newBase.manifest.layers,
      diffIds: newIds,
      history: newBase.config.history ?? [],
    },
    annotations: baseAnnotations(newBase, options.newBase),
    created: options.created,
    tags: options.tags,
  });
  return { ...result, oldBase: oldName, replaced: oldIds.length, kept: ids.length - oldIds.length, unchanged: false };
}

/** The base an image names in its annotations: by manifest digest (tagged or not, while its blobs are in the store), else by name. */
async function annotatedBase(store: Store, image: ResolvedImage, ref: string): Promise<{ image: ResolvedImage; name: string }> {
  const annotations = image.manifest.annotations ?? {};
  const name = annotations[Annotation.BaseName];
  // The annotations are input like any other: the digest names a file, and what it names may be a signature, or not JSON at all.
  const digest = annotations[Annotation.BaseDigest] === undefined ? undefined : parseDigest(annotations[Annotation.BaseDigest], `${ref}: annotation ${Annotation.BaseDigest}`);
  if (digest === undefined && name === undefined) throw new UsageError(`${ref} does not say what it was built on (no ${Annotation.BaseDigest} annotation): give --old-base`);
  if (digest !== undefined && (await store.hasBlob(digest))) {
    const { manifest, config } = await readImage(store, digest);
    const descriptor: Descriptor = { mediaType: manifest.mediaType ?? '', digest, size: 0 };
    return { image: { descriptor, manifestDescriptor: descriptor, manifest, config }, name: name ?? digest };
  }
  if (name === undefined) throw new NotFoundError(`${ref} was built on ${digest}, which is not in the store: give --old-base`);
  return { image: await resolveImage(store, name), name };
}
