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
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectCompression, createDecompressor } from '../compress/index.js';
import { fromFsError, InvalidInputError } from '../errors.js';
import { ImageArchiveSigns } from '../oci/archive-shape.js';
import { sha256 } from '../oci/digest.js';
import { hostPlatform } from '../oci/platform.js';
import type { ImageReference } from '../oci/reference.js';
import { compareTree } from '../layers/compare.js';
import { deltaTar, type DeltaSummary } from '../layers/changes-tar.js';
import type { TreeMember } from '../layers/members.js';
import { TreeIndex } from '../layers/tree-index.js';
import { storeLayer, writeLayer, type LayerCompression, type LayerOptions, type StoredLayer } from './layer.js';
import type { ContainerConfig, Descriptor, Digest, ImageConfig, Platform } from '../oci/types.js';
import { packTree, type PackEvents, type PackSummary } from '../pack/pack.js';
import type { TreeOptions } from '../pack/tree.js';
import type { Store } from '../store/store.js';
import { checkLayerEntry } from '../tar/paths.js';
import { TarValidator, type TarWatcher } from '../tar/reader.js';
import { captureAnnotations, treeOrigin, wallClockNs } from '../layers/capture.js';
import { applyChanges } from './changes.js';
import { commitImage } from './commit.js';

export type { LayerCompression } from './layer.js';

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
  /** Take a docker save or OCI archive's files as a filesystem (import --force) instead of refusing it. */
  acceptImageArchive?: boolean;
  /** Hears the layer's tar as it is written (LayerOptions.observe). */
  observe?: TarWatcher;
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
  const { entries, inputCompression, ...stored } = await importLayer(store, input, options);
  return { ...(await commitImport(store, containerConfig, stored, options)), entries, inputCompression };
}

export interface DirectoryImportResult extends ImportedImage {
  /** What pack would have said: entries by type, warnings (files that changed or vanished meanwhile). */
  pack: PackSummary;
}

/**
 * A directory, walked as `rootfs pack DIR` walks it (same options, so the
 * same tar bytes and diff_id as `pack DIR | import -`), straight into a layer.
 * The caller puts the store in `pack.skip`, as it does for pack.
 */
export async function importDirectory(store: Store, root: string, options: Omit<ImportOptions, 'onProgress'>, pack: TreeOptions = {}, events: PackEvents = {}): Promise<DirectoryImportResult> {
  const containerConfig = applyChanges({}, options.changes ?? []);
  const origin = treeOrigin(root);
  // Taken before the walk begins: a file whose inode changed after it is read again by the next capture.
  const started = wallClockNs();
  const written = await writeLayer(store, options, (sink) => packTree(root, sink, pack, events));
  return { ...(await commitImport(store, containerConfig, written, options, captureAnnotations(started, origin))), pack: written.produced };
}

/**
 * A tree given as members (a tarball through pack's path rules) as a
 * single-layer image: the members are written as pack writes them, so the
 * same tree gives the same layer as from its directory.
 */
export async function importMembers(store: Store, members: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: Omit<ImportOptions, 'onProgress'>): Promise<ImportedImage & { entries: number }> {
  const containerConfig = applyChanges({}, options.changes ?? []);
  let entries = 0;
  const counted = (async function* () {
    for await (const member of members) {
      entries++;
      yield member;
    }
  })();
  const stored = await membersLayer(store, counted, options);
  return { ...(await commitImport(store, containerConfig, stored, options)), entries };
}

/** A whole tree as one layer: everything is "added" against the empty tree (import of filtered members, append of a directory). */
export async function membersLayer(store: Store, members: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: LayerOptions & { source: string }): Promise<StoredLayer> {
  const empty = new TreeIndex();
  const summary: DeltaSummary = { added: 0, changed: 0, deleted: 0, kept: 0, bytes: 0 };
  return storeLayer(store, deltaTar(compareTree(empty, members, { where: options.source, withContent: true }), empty.index, summary), options);
}

/** The one refusal of an image archive given where a filesystem tree is read (import with or without --base, commit, diff, append). */
export function imageArchiveCheck(where: string, source: string): (path: Buffer) => void {
  const signs = new ImageArchiveSigns();
  return (path) => {
    if (signs.see(path.toString('latin1'))) {
      throw new InvalidInputError(where, `an image archive (docker save or OCI: manifest.json or oci-layout beside blobs/ at its top), not a filesystem tarball: use rootfs load -i ${source}; import --force takes its files as they are`);
    }
  };
}

/** Config, manifest and tags for the layer just written. */
async function commitImport(store: Store, containerConfig: ContainerConfig, { layer, diffId }: StoredLayer, options: ImportOptions, annotations?: Record<string, string>): Promise<ImportedImage> {
  const config = importConfig(containerConfig, diffId, options);
  const manifest = await commitImage(store, { config, layers: [layer], tags: options.tags, ...(annotations ? { annotations } : {}) });
  return { imageId: sha256(config), manifest, layer, diffId };
}

/** A tarball as it is (checked, recompressed) into a layer blob: import's layer, and append's. */
export async function importLayer(
  store: Store,
  input: Readable,
  options: Pick<ImportOptions, 'source' | 'compression' | 'level' | 'onProgress' | 'acceptImageArchive' | 'observe'>,
): Promise<StoredLayer & { entries: number; inputCompression: string }> {
  const where = options.source === '-' ? 'stdin' : options.source;
  let entries = 0;
  const { tar, compression } = await openTarInput(input, where, (bytes) => options.onProgress?.(bytes, entries));
  // A docker save or OCI archive given to import is refused as soon as its members say so, before anything is committed.
  const refuseArchive = options.acceptImageArchive ? undefined : imageArchiveCheck(where, options.source);
  const { observe, ...layerOptions } = options;
  // The tar is parsed once: the observer hears it from the validator's parse.
  const validator = new TarValidator(where, (entry) => {
    entries++;
    checkLayerEntry(entry, where);
    refuseArchive?.(entry.path);
    observe?.entry(entry);
  }, observe);
  const stored = await storeLayer(store, tar, layerOptions, [validator]);
  return { ...stored, entries, inputCompression: compression };
}

/**
 * A tarball input, decompressed (compression detected by its magic bytes).
 * `onBytes` sees the input bytes read so far.
 */
export async function openTarInput(input: Readable, where: string, onBytes?: (bytesRead: number) => void): Promise<{ tar: Readable; compression: string }> {
  let bytesRead = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      bytesRead += chunk.length;
      onBytes?.(bytesRead);
      callback(null, chunk);
    },
  });
  // pipe() does not pass errors on: a read error of the input (a disk error, a file gone) must fail the import, named.
  const failInput = (err: unknown): void => void counter.destroy(fromFsError(err, where) as Error);
  if (input.errored) failInput(input.errored);
  else input.on('error', failInput);
  const detected = await detectCompression(input.pipe(counter));
  const tar = createDecompressor(detected.compression, where);
  // Errors of the input reach the consumer through `tar`, which pipeline destroys with them.
  pipeline(detected.stream, tar).catch(() => {});
  return { tar, compression: detected.compression };
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

