/**
 * `rootfs squash`: an image's layers (all, or those from --from N up) merged
 * into one. The merged layer is written the way import writes one, in one
 * pass: tar → sha256 (diff_id) → compress → blob. The config keeps the
 * history of the merged layers, marked empty_layer, plus one entry for the
 * squash, so `docker history` still tells how the image was made.
 */
import { UsageError } from '../errors.js';
import { flattenToTar } from '../layers/flatten.js';
import { sha256 } from '../oci/digest.js';
import type { ImageReference } from '../oci/reference.js';
import { layerCompression, ociLayerMediaType, type Descriptor, type Digest, type HistoryEntry, type ImageConfig } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { commitImage, ownTag } from './commit.js';
import { storeLayer, type LayerCompression } from './layer.js';
import { count } from '../text.js';
import { resolveImage } from '../store/resolve.js';

export interface SquashOptions {
  /** Index (from 0, base first) of the lowest layer to merge; those below are kept. Default 0. */
  from?: number;
  /** The names to give the result; default: REF's own name when REF was found by a tag (not by an ID or a digest). */
  tags?: ImageReference[];
  compression?: LayerCompression;
  level?: number;
  /** The squash's time in the config: now, or SOURCE_DATE_EPOCH. */
  created?: Date;
  /** While layers are read to plan the merge: the layer just read (from 0), how many there are, and its entries. */
  onLayer?: (index: number, layers: number, entries: number) => void;
  /** A layer whose media type its bytes contradict (read as the bytes say). */
  onWarning?: (message: string) => void;
  /** While the merged layer is written: entries so far, and bytes written to the store (compressed). */
  onWrite?: (progress: { entries: number; written: number }) => void;
}

export interface SquashResult {
  imageId: Digest;
  manifest: Descriptor;
  layer: Descriptor;
  diffId: Digest;
  /** How many layers were merged into `layer`. */
  merged: number;
  /** The names the result was given. */
  tags: ImageReference[];
}

export async function squashImage(store: Store, ref: string, options: SquashOptions): Promise<SquashResult> {
  const image = await resolveImage(store, ref);
  const tags = options.tags ?? ownTag(image.name);
  const layers = image.manifest.layers;
  const from = options.from ?? 0;
  if (layers.length === 0) throw new UsageError(`${ref} has no layers to squash`);
  if (!Number.isInteger(from) || from < 0 || from >= layers.length) {
    throw new UsageError(`--from must be a layer index from 0 to ${layers.length - 1} (${ref} has ${count(layers.length, 'layer')}), not ${from}`);
  }
  const progress = { entries: 0, written: 0 };
  const onEntry = (entries: number): void => {
    progress.entries = entries;
    options.onWrite?.(progress);
  };
  const onWritten = (bytes: number): void => {
    progress.written = bytes;
    options.onWrite?.(progress);
  };
  const tar = flattenToTar(store, layers, { from, where: ref, onLayer: ({ layer, entries }) => options.onLayer?.(layer, layers.length, entries), onEntry, ...(options.onWarning ? { onWarning: options.onWarning } : {}) });
  const { layer, diffId } = await storeLayer(store, tar, { ...options, onWritten });
  const config = squashedConfig(image.config, from, diffId, options.created ?? new Date(), layers.length - from);
  const kept = layers.slice(0, from).map(asOciLayer);
  const manifest = await commitImage(store, { config, layers: [...kept, layer], tags });
  return { imageId: sha256(config), manifest, layer, diffId, merged: layers.length - from, tags };
}


/** The same config with the merged diff_ids replaced by one, their history entries kept as empty_layer, and one entry for the squash. */
function squashedConfig(config: ImageConfig, from: number, diffId: Digest, now: Date, merged: number): Buffer {
  const created = now.toISOString().replace('.000Z', 'Z');
  let layer = 0;
  const history: HistoryEntry[] = (config.history ?? []).map((entry) => {
    if (entry.empty_layer) return entry;
    return layer++ < from ? entry : { ...entry, empty_layer: true };
  });
  history.push({ created, created_by: 'rootfs squash', comment: `squashed ${count(merged, 'layer')}` });
  const out: ImageConfig = { ...config, created, history, rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids.slice(0, from), diffId] } };
  return Buffer.from(JSON.stringify(out));
}

/** Kept layers go into an OCI manifest: Docker layer media types become their OCI names (same bytes). */
export function asOciLayer(layer: Descriptor): Descriptor {
  const compression = layerCompression(layer.mediaType);
  return compression && layer.mediaType.startsWith('application/vnd.docker.') ? { ...layer, mediaType: ociLayerMediaType(compression) } : layer;
}
