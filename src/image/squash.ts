/**
 * `rootfs squash`: an image's layers (all, or those from --from N up) merged
 * into one. The merged layer is written the way import writes one, in one
 * pass: tar → sha256 (diff_id) → compress → blob. The config keeps the
 * history of the merged layers, marked empty_layer, plus one entry for the
 * squash, so `docker history` still tells how the image was made.
 */
import { pipeline } from 'node:stream/promises';
import { UsageError } from '../errors.js';
import { flattenToTar } from '../layers/flatten.js';
import { sha256 } from '../oci/digest.js';
import type { ImageReference } from '../oci/reference.js';
import { layerCompression, ociLayerMediaType, type Descriptor, type Digest, type HistoryEntry, type ImageConfig } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { commitImage } from './commit.js';
import { writeLayer, type LayerCompression } from './layer.js';

export interface SquashOptions {
  /** Index (from 0, base first) of the lowest layer to merge; those below are kept. Default 0. */
  from?: number;
  tags: ImageReference[];
  compression?: LayerCompression;
  level?: number;
  /** The squash's time in the config: now, or SOURCE_DATE_EPOCH. */
  created?: Date;
  onLayer?: (index: number, entries: number) => void;
}

export interface SquashResult {
  imageId: Digest;
  manifest: Descriptor;
  layer: Descriptor;
  diffId: Digest;
  /** How many layers were merged into `layer`. */
  merged: number;
}

export async function squashImage(store: Store, ref: string, options: SquashOptions): Promise<SquashResult> {
  const image = await store.resolve(ref);
  const layers = image.manifest.layers;
  const from = options.from ?? 0;
  if (layers.length === 0) throw new UsageError(`${ref} has no layers to squash`);
  if (!Number.isInteger(from) || from < 0 || from >= layers.length) {
    throw new UsageError(`--from must be a layer index from 0 to ${layers.length - 1} (${ref} has ${layers.length} layers), not ${from}`);
  }
  const { layer, diffId } = await writeLayer(store, options, (sink) => pipeline(flattenToTar(store, layers, { from, where: ref, onLayer: options.onLayer }), sink));
  const config = squashedConfig(image.config, from, diffId, options.created ?? new Date(), layers.length - from);
  const kept = layers.slice(0, from).map(asOciLayer);
  const manifest = await commitImage(store, { config, layers: [...kept, layer], tags: options.tags });
  return { imageId: sha256(config), manifest, layer, diffId, merged: layers.length - from };
}

/** The same config with the merged diff_ids replaced by one, their history entries kept as empty_layer, and one entry for the squash. */
function squashedConfig(config: ImageConfig, from: number, diffId: Digest, now: Date, merged: number): Buffer {
  const created = now.toISOString().replace('.000Z', 'Z');
  let layer = 0;
  const history: HistoryEntry[] = (config.history ?? []).map((entry) => {
    if (entry.empty_layer) return entry;
    return layer++ < from ? entry : { ...entry, empty_layer: true };
  });
  history.push({ created, created_by: 'rootfs squash', comment: `squashed ${merged} layer${merged === 1 ? '' : 's'}` });
  const out: ImageConfig = { ...config, created, history, rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids.slice(0, from), diffId] } };
  return Buffer.from(JSON.stringify(out));
}

/** Kept layers go into an OCI manifest: Docker layer media types become their OCI names (same bytes). */
function asOciLayer(layer: Descriptor): Descriptor {
  const compression = layerCompression(layer.mediaType);
  return compression && layer.mediaType.startsWith('application/vnd.docker.') ? { ...layer, mediaType: ociLayerMediaType(compression) } : layer;
}
