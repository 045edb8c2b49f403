/**
 * What the format readers hand to `load` after checking an archive, and the
 * checks they share: an image's manifest graph, verified against the members
 * that were streamed (sizes, media types, digests, diff_ids).
 */
import type { ImageReference } from '../oci/reference.js';
import type { Descriptor, Digest, ImageConfig } from '../oci/types.js';
import type { ArchiveContents, BlobMember } from './contents.js';
import { checkDiffId, checkDiffIdCount, layerMediaTypeCompression, parseImageConfig } from '../oci/validate.js';
import { readLayerAs } from '../oci/layer-media.js';

export type LoadableImage = (
  | {
      /** An OCI manifest or index from the archive, stored byte for byte (its digest kept). */
      kind: 'descriptor';
      descriptor: Descriptor;
    }
  | {
      /** A docker-archive image without a manifest: the store makes one around the verbatim config. */
      kind: 'config';
      config: Buffer;
      layers: Descriptor[];
    }
) & {
  /** The config digest (docker's image ID), or for an index its own digest. */
  imageId: Digest;
  tags: ImageReference[];
  /** Every blob the image needs from the archive. */
  blobs: Digest[];
};

/** An image config from the archive: the fields load relies on, checked. */
export function parseConfig(contents: ArchiveContents, name: string, referrer: string): { config: ImageConfig; bytes: Buffer } {
  const { value, bytes } = contents.json<unknown>(name, referrer);
  return { config: parseImageConfig(value, contents.where(name)), bytes };
}

/**
 * Checks the layers named by a manifest (or manifest.json) against the
 * config: one per diff_id, each decompressing to its diff_id. Returns the
 * layer members in order.
 */
export function checkLayers(contents: ArchiveContents, config: ImageConfig, configName: string, layers: Array<{ name: string; referrer: string }>): BlobMember[] {
  const diffIds = config.rootfs.diff_ids;
  checkDiffIdCount(contents.where(layers[0]?.referrer ?? configName), layers.length, diffIds, configName);
  return layers.map(({ name, referrer }, i) => {
    const blob = contents.blob(name, referrer);
    checkDiffId(contents.where(name), i, blob.diffId, diffIds, configName);
    return blob;
  });
}

/** A layer must be a tar whose names stay inside the root (an attestation's "layers" are not layers). */
export function checkLayerTar(blob: BlobMember): void {
  if (blob.notALayer) throw blob.notALayer;
}

/**
 * A manifest's layer: a layer media type we know, read as its bytes say
 * (oci/layer-media.ts: a label they contradict is warned about, not
 * refused), and a safe tar whatever its label.
 */
export function checkLayerMember(contents: ArchiveContents, descriptor: Descriptor, blob: BlobMember, onNotice?: (message: string) => void): void {
  layerMediaTypeCompression(descriptor.mediaType, contents.where(blob.name));
  const { warning } = readLayerAs(descriptor, blob.compression);
  checkLayerTar(blob);
  if (warning !== undefined) onNotice?.(warning);
}
