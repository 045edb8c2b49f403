/**
 * A new image made from one in the store, the shared last step of import
 * and commit --base, append, config and rebase: the old config with layers
 * added or swapped, --change instructions, labels, platform and one history
 * entry; the old manifest's layers and annotations; then commit.ts. The old
 * image is left as it was: only the tags given move.
 */
import { UsageError } from '../errors.js';
import { CAPTURE_ANNOTATIONS } from '../layers/capture.js';
import { sha256 } from '../oci/digest.js';
import type { ImageReference } from '../oci/reference.js';
import type { Descriptor, Digest, HistoryEntry, ImageConfig, Platform } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { ResolvedImage } from '../store/resolve.js';
import { applyChanges } from './changes.js';
import { commitImage, ownTag } from './commit.js';
import type { StoredLayer } from './layer.js';
import { asOciLayer } from './squash.js';

export interface Derivation {
  /** Layers added on top, base first. */
  add?: StoredLayer[];
  /** Layers (and their history) replacing the image's lower ones: rebase. */
  lower?: { drop: number; dropHistory: number; layers: Descriptor[]; diffIds: Digest[]; history: HistoryEntry[] };
  changes?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  platform?: Platform;
  /** What made it, as docker history shows it; an entry without added layers is an empty_layer. */
  createdBy?: string;
  comment?: string;
  created?: Date;
  /** Default: the tag `from` was found by (ownTag). */
  tags?: ImageReference[];
}

export interface DerivedImage {
  imageId: Digest;
  manifest: Descriptor;
  /** The names the new image was given. */
  tags: ImageReference[];
}

export async function deriveImage(store: Store, from: ResolvedImage, derivation: Derivation): Promise<DerivedImage> {
  const created = (derivation.created ?? new Date()).toISOString().replace('.000Z', 'Z');
  const config: ImageConfig = structuredClone(from.config);
  let container = applyChanges(config.config ?? {}, derivation.changes ?? []);
  if (derivation.labels && Object.keys(derivation.labels).length > 0) container = { ...container, Labels: { ...container.Labels, ...derivation.labels } };
  config.config = container;
  if (derivation.platform) {
    config.os = derivation.platform.os;
    config.architecture = derivation.platform.architecture;
    if (derivation.platform.variant) config.variant = derivation.platform.variant;
    else delete config.variant;
  }
  let layers = from.manifest.layers.map(asOciLayer);
  let diffIds = [...config.rootfs.diff_ids];
  let history = [...(config.history ?? [])];
  if (derivation.lower) {
    const { drop, dropHistory, layers: lower, diffIds: lowerIds, history: lowerHistory } = derivation.lower;
    if (drop > layers.length) throw new UsageError(`the old base has more layers than the image`);
    layers = [...lower.map(asOciLayer), ...layers.slice(drop)];
    diffIds = [...lowerIds, ...diffIds.slice(drop)];
    history = [...lowerHistory, ...history.slice(dropHistory)];
  }
  for (const added of derivation.add ?? []) {
    layers.push(added.layer);
    diffIds.push(added.diffId);
  }
  if (derivation.createdBy !== undefined) {
    history.push({
      created,
      created_by: derivation.createdBy,
      ...(derivation.comment ? { comment: derivation.comment } : {}),
      ...((derivation.add ?? []).length === 0 ? { empty_layer: true } : {}),
    });
  }
  config.created = created;
  config.history = history;
  config.rootfs = { type: 'layers', diff_ids: diffIds };
  const bytes = Buffer.from(JSON.stringify(config));
  const tags = derivation.tags ?? ownTag(from.name);
  const inherited = { ...from.manifest.annotations };
  // A capture's time vouches for the tree it walked: once layers are added or swapped, it is another tree.
  if (derivation.add?.length || derivation.lower) for (const key of CAPTURE_ANNOTATIONS) delete inherited[key];
  // Spread, not Object.assign: a key named __proto__ from the user stays a key.
  const annotations = { ...inherited, ...derivation.annotations };
  const manifest = await commitImage(store, {
    config: bytes,
    layers,
    tags,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  });
  return { imageId: sha256(bytes), manifest, tags };
}
