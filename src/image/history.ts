/** `rootfs history`: an image's history entries, newest first, each with the layer it made (docker history's rows). */
import type { Digest, HistoryEntry } from '../oci/types.js';
import type { ResolvedImage } from '../store/resolve.js';

export interface HistoryRow {
  /** The image ID on the newest row; the others are "<missing>" (not images of their own), as in docker. */
  id: Digest | '<missing>';
  created?: string;
  createdBy: string;
  /** The layer blob's size (compressed, as stored); 0 for an empty layer. */
  size: number;
  layer?: Digest;
  comment: string;
  emptyLayer: boolean;
}

export function imageHistory(image: ResolvedImage): HistoryRow[] {
  const layers = image.manifest.layers;
  const history: HistoryEntry[] = [...(image.config.history ?? [])];
  // A config may have fewer entries than layers (hand-made images): the layers without one still get rows.
  const described = history.filter((entry) => !entry.empty_layer).length;
  for (let i = described; i < layers.length; i++) history.push({});
  let layer = 0;
  const rows = history.map((entry): HistoryRow => {
    const empty = entry.empty_layer === true || layer >= layers.length;
    const descriptor = empty ? undefined : layers[layer++];
    return {
      id: '<missing>',
      ...(entry.created ? { created: entry.created } : {}),
      createdBy: entry.created_by ?? '',
      size: descriptor?.size ?? 0,
      ...(descriptor ? { layer: descriptor.digest } : {}),
      comment: entry.comment ?? '',
      emptyLayer: empty,
    };
  });
  rows.reverse();
  if (rows[0]) rows[0].id = image.manifest.config.digest;
  return rows;
}
