/**
 * `rootfs import`: a root filesystem becomes a single-layer image, the way
 * `docker import` makes one, in one streaming pass. From a tarball:
 *
 *   input → detect compression → decompress → check every tar header → layer (src/image/layer.ts)
 *
 * and from a directory, pack's walker writes the tar straight into the layer,
 * with no tar to re-parse and no second process. The tar is never held in
 * memory and never read twice. Nothing is tagged until the layer, config and
 * manifest blobs are all in place.
 */
import { statSync } from 'node:fs';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectCompression, createDecompressor } from '../compress/index.js';
import { fromFsError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { hostPlatform } from '../oci/platform.js';
import type { ImageReference } from '../oci/reference.js';
import type { ContainerConfig, Descriptor, Digest, ImageConfig, Platform } from '../oci/types.js';
import { packTree, type PackEvents, type PackOptions, type PackSummary } from '../pack/pack.js';
import type { Store } from '../store/store.js';
import { checkLayerEntry } from '../tar/paths.js';
import { TarValidator } from '../tar/reader.js';
import { applyChanges } from './changes.js';
import { commitImage } from './commit.js';
import { writeLayer, type LayerCompression, type WrittenLayer } from './layer.js';

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
  /** Called as input bytes are read (before decompression). */
  onProgress?: (bytesRead: number, entries: number) => void;
}

export interface ImportedImage {
  imageId: Digest;
  manifest: Descriptor;
  layer: Descriptor;
  diffId: Digest;
}

export interface ImportResult extends ImportedImage {
  entries: number;
  /** Compression detected on the input. */
  inputCompression: string;
}

export async function importTarball(store: Store, input: Readable, options: ImportOptions): Promise<ImportResult> {
  // The config is checked before any byte is read: a bad --change must not cost a 10 GB read.
  const containerConfig = applyChanges({}, options.changes ?? []);
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
  const validator = new TarValidator(where, (entry) => {
    entries++;
    checkLayerEntry(entry, where);
  });
  const written = await writeLayer(store, options, (sink) => pipeline(detected.stream, createDecompressor(detected.compression, where), validator, sink));
  return { ...(await commitImport(store, containerConfig, written, options)), entries, inputCompression: detected.compression };
}

export interface DirectoryImportResult extends ImportedImage {
  /** What pack would have said: entries by type, warnings (files that changed or vanished meanwhile). */
  pack: PackSummary;
}

/**
 * A directory, walked as `rootfs pack DIR` walks it (same options, so the
 * same tar bytes and diff_id as `pack DIR | import -`), straight into a layer.
 * The store itself is never packed, wherever it is.
 */
export async function importDirectory(store: Store, root: string, options: Omit<ImportOptions, 'onProgress'>, pack: PackOptions = {}, events: PackEvents = {}): Promise<DirectoryImportResult> {
  const containerConfig = applyChanges({}, options.changes ?? []);
  let storeDir;
  try {
    storeDir = statSync(store.dir, { bigint: true });
  } catch (err) {
    throw fromFsError(err, store.dir);
  }
  const skip = [...(pack.skip ?? []), { dev: storeDir.dev, ino: storeDir.ino }];
  const written = await writeLayer(store, options, (sink) => packTree(root, sink, { ...pack, skip }, events));
  return { ...(await commitImport(store, containerConfig, written, options)), pack: written.produced };
}

/** Config, manifest and tags for the layer just written. */
async function commitImport(store: Store, containerConfig: ContainerConfig, { layer, diffId }: WrittenLayer<unknown>, options: ImportOptions): Promise<ImportedImage> {
  const config = importConfig(containerConfig, diffId, options);
  const manifest = await commitImage(store, { config, layers: [layer], tags: options.tags });
  return { imageId: sha256(config), manifest, layer, diffId };
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

