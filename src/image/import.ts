/**
 * `rootfs import`: a root filesystem tarball becomes a single-layer image,
 * the way `docker import` makes one, in one streaming pass:
 *
 *   input → detect compression → decompress → check every tar header →
 *   sha256 (diff_id) → compress → sha256 + size (digest) → blob temp file
 *
 * The tar is never held in memory and never read twice. Nothing is tagged
 * until the layer, config and manifest blobs are all in place.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectCompression, createDecompressor, createCompressor } from '../compress/index.js';
import { fromFsError, InvalidInputError } from '../errors.js';
import { ImageArchiveSigns } from '../oci/archive-shape.js';
import { DigestStream, sha256 } from '../oci/digest.js';
import { hostPlatform } from '../oci/platform.js';
import type { ImageReference } from '../oci/reference.js';
import { ociLayerMediaType, type ContainerConfig, type Descriptor, type Digest, type ImageConfig, type Platform } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { checkLayerEntry } from '../tar/paths.js';
import { TarValidator } from '../tar/reader.js';
import { applyChanges } from './changes.js';
import { commitImage } from './commit.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface ImportOptions {
  /** Names the input in errors and in the history comment ("Imported from -"). */
  source: string;
  tags: ImageReference[];
  /** Dockerfile instructions (CMD, ENV, …) applied to an empty config. */
  changes?: string[];
  /** History comment, as `docker import -m`. */
  message?: string;
  platform?: Platform;
  compression?: LayerCompression;
  level?: number;
  /** The image's creation time: now, or SOURCE_DATE_EPOCH for reproducible images. */
  created?: Date;
  /** Take an image archive's files (manifest.json, blobs/…) as a filesystem, rather than refusing it (import --force). */
  acceptImageArchive?: boolean;
  /** Called as input bytes are read (before decompression). */
  onProgress?: (bytesRead: number, entries: number) => void;
}

export interface ImportResult {
  imageId: Digest;
  manifest: Descriptor;
  layer: Descriptor;
  diffId: Digest;
  entries: number;
  /** Compression detected on the input. */
  inputCompression: string;
}

export async function importTarball(store: Store, input: Readable, options: ImportOptions): Promise<ImportResult> {
  // The config is checked before any byte is read: a bad --change must not cost a 10 GB read.
  const containerConfig = applyChanges({}, options.changes ?? []);
  const compression = options.compression ?? 'gzip';
  const where = options.source === '-' ? 'stdin' : options.source;

  let bytesRead = 0;
  let entries = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      bytesRead += chunk.length;
      options.onProgress?.(bytesRead, entries);
      callback(null, chunk);
    },
  });
  // pipe() does not pass errors on: a read error of the input (a disk error, a file gone) must fail the import, named.
  const failInput = (err: unknown): void => void counter.destroy(fromFsError(err, where) as Error);
  if (input.errored) failInput(input.errored);
  else input.on('error', failInput);
  const detected = await detectCompression(input.pipe(counter));
  // A docker save or OCI archive given to import is refused as soon as its members say so, before anything is committed.
  const signs = options.acceptImageArchive ? undefined : new ImageArchiveSigns();
  const validator = new TarValidator(where, (entry) => {
    entries++;
    checkLayerEntry(entry, where);
    if (signs?.see(entry.path.toString('latin1'))) {
      throw new InvalidInputError(where, `an image archive (docker save or OCI: manifest.json or oci-layout beside blobs/ at its top), not a filesystem tarball: use rootfs load -i ${options.source}; import --force takes its files as they are`);
    }
  });
  const diff = new DigestStream();
  const blob = store.createBlobWriter();
  try {
    await pipeline(
      detected.stream,
      createDecompressor(detected.compression, where),
      validator,
      diff,
      createCompressor(compression, options.level === undefined ? {} : { level: options.level }),
      blob,
    );
    const layerBlob = await blob.commit();
    const layer: Descriptor = { mediaType: ociLayerMediaType(compression), digest: layerBlob.digest, size: layerBlob.size };
    const config = importConfig(containerConfig, diff.digest, options);
    const manifest = await commitImage(store, { config, layers: [layer], tags: options.tags });
    return {
      imageId: sha256(config),
      manifest,
      layer,
      diffId: diff.digest,
      entries,
      inputCompression: detected.compression,
    };
  } catch (err) {
    await blob.abort();
    throw err;
  }
}

/** The config docker import writes: platform, created, one history entry, one diff_id. Key order is fixed so the bytes are reproducible. */
function importConfig(containerConfig: ContainerConfig, diffId: Digest, options: ImportOptions): Buffer {
  const platform = options.platform ?? hostPlatform();
  const created = (options.created ?? new Date()).toISOString().replace('.000Z', 'Z');
  const config: ImageConfig = {
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    ...(options.message ? { comment: options.message } : {}),
    config: containerConfig,
    created,
    history: [{ created, comment: options.message ?? `Imported from ${options.source}` }],
    rootfs: { type: 'layers', diff_ids: [diffId] },
  };
  return Buffer.from(JSON.stringify(config));
}

