/**
 * `rootfs save`: images from the store into one archive or layout, each
 * image the one copy (engine/copy.ts) from the store (store/image-ends.ts)
 * into the archive (archive-destination.ts): every blob verified as it is
 * read and written once however many images share it, a layer rewritten
 * only when its compression must change (the copy's conversion, its
 * manifest rewritten, its config and so the image ID untouched), the
 * referrers by the copy's closure, the indexes last.
 */
import type { Writable } from 'node:stream';
import { reproducibleEncoders, type Compression } from '../compress/index.js';
import { copyImage, type MoveOptions } from '../engine/copy.js';
import { conversionOf, type ConversionRule } from '../engine/convert.js';
import type { HaveFile } from './omitted-layers.js';
import { NotFoundError, UsageError } from '../errors.js';
import { openStoredLayer } from '../layers/source.js';
import type { LayerConversion, MovedImage, TransferEvent } from '../oci/image-ends.js';
import { familiarName, familiarRepository, type ImageReference } from '../oci/reference.js';
import { withoutNameAnnotations, type Descriptor, type Digest, type Platform } from '../oci/types.js';
import type { GraphNode } from '../oci/walk.js';
import { StoreSource } from '../store/image-ends.js';
import { resolveImage, type ResolvedImage } from '../store/resolve.js';
import type { Store } from '../store/store.js';
import type { FormatName } from './address.js';
import { archivedTags, archiveTag, writeArchive, type DeltaOutcome } from './archive-destination.js';
import type { LayerTally } from './contents.js';
import { referenceLayers } from './delta-layers.js';

export type { DeltaOutcome } from './archive-destination.js';

/**
 * A save: the move's options (engine/copy.ts MoveOptions: platform narrows
 * multi-platform images to one, else an index is saved whole in OCI formats
 * and as this machine's manifest in docker ones; conversion recompresses
 * layers), and what the archive is.
 */
export interface SaveOptions extends MoveOptions {
  format: FormatName;
  /** The REF of `FORMAT:PATH:REF`: the name (docker) or ref.name (oci) of the one image saved. */
  ref?: string;
  stdout: Writable;
  /** Before the first blob, then as bytes are read and written. */
  onProgress?: (progress: SaveProgress) => void;
  /** What the receiving store holds (`rootfs have` there): its layers are left out of the archive (manifests and configs always go in). */
  have?: HaveFile;
  /** Images the receiving store holds, resolved here: their layers are left out too. */
  since?: string[];
  /**
   * false (--no-delta): a layer the site lacks goes whole. Else, with have or
   * since, as a delta against a layer it holds (transports/delta-layers.ts)
   * when an encoder the site runs (its have file's; with since alone, this
   * rootfs's) rebuilds it exactly.
   */
  delta?: boolean;
  /** What became of a layer that could have gone as a delta. */
  onDelta?: (outcome: DeltaOutcome) => void;
}


export interface SaveProgress {
  /** Blob bytes written, and the stored bytes of layers read to convert them. */
  bytes: number;
  blobs: number;
  /**
   * What bytes will add up to, known before the first blob (referrers left out): a converted layer
   * counts its stored size twice, read and written, until its new size is known.
   */
  total: number;
  /** Of total, what the archive's blobs will add up to (the conversions' reading left out). */
  archiveTotal: number;
  /** Some converted layer's new size is not known yet: the totals count its stored size for it. */
  estimated: boolean;
  /** The layer being converted now, if one is. */
  converting?: LayerConversion;
}


export interface SaveResult {
  /** Each under the name it has in the archive; its ID is its config's digest (the platform's picked from an index kept whole, as docker names it). */
  images: MovedImage[];
  /** Layers left out because the receiving store holds them. */
  omitted: LayerTally;
  /** Layers sent as deltas (bytes: the deltas'). */
  deltas: LayerTally;
  /** Referrers written with the images (untagged index.json entries carrying their artifactType). */
  referrers: number;
}


interface Selected {
  ref: ImageReference | undefined;
  resolved: ResolvedImage;
  /** What is written: the manifest (docker formats, --platform) or what the name points at (an index kept whole). */
  top: Descriptor;
}

/** The layers of the --since images: images of this store that the receiving store also holds. */
export async function sinceLayers(store: Store, texts: string[], platform: Platform | undefined): Promise<Set<Digest>> {
  const layers = new Set<Digest>();
  for (const text of texts) {
    const image = await resolveImage(store, text, platform).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new NotFoundError(`--since ${text}: ${err.message} (--since names an image that this store and the receiving store both hold)`);
      throw err;
    });
    for (const layer of image.manifest.layers) layers.add(layer.digest);
  }
  return layers;
}

export async function saveImages(store: Store, texts: string[], path: string, options: SaveOptions): Promise<SaveResult> {
  if (texts.length === 0) throw new UsageError('no images to save');
  const exclude = new Set([...(options.have?.blobs ?? []), ...(await sinceLayers(store, options.since ?? [], options.platform))]);
  // A classic archive names layers by directory, not digest: a loader could not tell which layer it lacks.
  if (exclude.size > 0 && options.format === 'docker-legacy') throw new UsageError(`${options.since?.length ? '--since' : '--exclude-have'}: docker-legacy archives cannot leave layers out; save a delta as docker-archive or oci-archive`);
  if (options.ref !== undefined && texts.length > 1) throw new UsageError(`${options.format}:${path}:${options.ref} names one image, but ${texts.length} are being saved`);
  const docker = options.format === 'docker-archive' || options.format === 'docker-legacy';
  const selected: Selected[] = [];
  for (const text of texts) {
    const resolved = await resolveImage(store, text, options.platform);
    // manifest.json holds one config per entry: a docker archive takes the platform store.resolve picked; an OCI one, without --platform, the index whole.
    const top = withoutNameAnnotations(docker || options.platform ? resolved.manifestDescriptor : resolved.descriptor);
    selected.push({ ref: archiveTag(options.format, options.ref, resolved.name), resolved, top });
  }
  // A layout's reader reaches the delta blobs through index.json's annotation, as an archive's reads every member.
  // With --since alone nothing says what the site runs: it is taken to run what this rootfs does (a mismatch fails its load, exit 3, its store unchanged).
  const encoders = options.have?.encoders ?? new Set(reproducibleEncoders());
  const deltas = options.delta !== false && exclude.size > 0 ? { store, encoders, references: await referenceLayers(store, exclude), ...(options.onDelta ? { onDelta: options.onDelta } : {}) } : undefined;
  const conversion = options.conversion ?? { compression: 'keep' };
  const into = { format: options.format, ...(options.ref !== undefined ? { ref: options.ref } : {}), exclude, ...(deltas ? { deltas } : {}) };
  return writeArchive(path, options.stdout, into, async (destination) => {
    const progress = await planProgress(store, selected, options, conversion, exclude, destination.cannotHold, deltas !== undefined);
    const source = new StoreSource(store);
    const saved: MovedImage[] = [];
    for (const { ref, resolved, top } of selected) {
      destination.repository = ref ? familiarRepository(ref) : undefined;
      const name = ref ? familiarName(ref) : top.digest;
      const copied = await copyImage(source, top, destination, {
        ...options,
        name,
        what: `save ${name}`,
        tags: ref ? [ref] : [],
        // One blob at a time: an archive's members come in one order, so the same images save to the same bytes.
        concurrency: 1,
        onEvent: (event) => {
          options.onEvent?.(event);
          progress.take(event);
        },
      });
      saved.push({ ...copied, tags: archivedTags(destination), id: resolved.manifest.config.digest });
    }
    const sum = (sizes: Iterable<number>): number => [...sizes].reduce((a, b) => a + b, 0);
    return {
      images: saved,
      omitted: { layers: destination.omitted.size, bytes: sum(destination.omitted.values()) },
      deltas: { layers: destination.deltaEntries.length, bytes: sum(destination.deltaEntries.map((entry) => entry.deltaSize)) },
      referrers: destination.referrers,
    };
  });
}

/** Save's progress from the copy's events, against totals planned before the first blob. */
interface ProgressTally {
  take(event: TransferEvent): void;
}

/**
 * The totals: the configs and layers of every manifest each selected image
 * writes (an index kept whole: every platform the store holds, by the one
 * walk), once each, less those left out; a layer to convert (by what its
 * bytes are: the copy's own rule, conversionOf) counts its stored size
 * twice, read and written, until its new size is known.
 */
async function planProgress(store: Store, selected: Selected[], options: SaveOptions, rule: ConversionRule, exclude: Set<Digest>, cannotHold: readonly Compression[], deltas: boolean): Promise<ProgressTally> {
  const planned = new Map<Digest, number>();
  const converted = new Map<Digest, number>();
  // Platforms the store never pulled stay listed in an index, unwritten (as the copy does).
  const held = async (node: GraphNode, all: Descriptor[]): Promise<Descriptor[]> => {
    const here: Descriptor[] = [];
    for (const child of node.document?.kind === 'index' ? all : []) if (await store.hasBlob(child.digest)) here.push(child);
    return here;
  };
  for (const { top } of selected) {
    for await (const node of store.walk([top], held)) {
      if (node.document?.kind !== 'manifest') continue;
      const manifest = node.document.manifest;
      if (!exclude.has(manifest.config.digest)) planned.set(manifest.config.digest, manifest.config.size);
      for (const layer of manifest.layers) {
        if (planned.has(layer.digest) || converted.has(layer.digest)) continue;
        // One look at each layer's first bytes, which says once if its label is wrong.
        const { compression, stream } = await openStoredLayer(store, layer, (message) => options.onEvent?.({ type: 'notice', message }));
        stream.destroy();
        if (conversionOf(layer, compression, rule, cannotHold)) converted.set(layer.digest, layer.size);
        else if (!exclude.has(layer.digest)) planned.set(layer.digest, layer.size);
      }
    }
  }
  const sum = (sizes: Map<Digest, number>): number => [...sizes.values()].reduce((a, b) => a + b, 0);
  const archiveTotal = sum(planned) + sum(converted);
  const progress: SaveProgress = { bytes: 0, blobs: 0, total: archiveTotal + sum(converted), archiveTotal, estimated: false };
  let pending = converted.size;
  // A delta's size is known only once it is made: the totals count the whole layer until then.
  progress.estimated = pending > 0 || deltas;
  const report = (): void => options.onProgress?.(progress);
  report();
  const counted = new Map<Digest, number>();
  const count = (digest: Digest, done: number): void => {
    progress.bytes += done - (counted.get(digest) ?? 0);
    counted.set(digest, done);
  };
  return {
    take(event) {
      switch (event.type) {
        case 'convert':
          progress.converting = event.conversion;
          break;
        case 'progress':
          count(event.digest, event.done);
          break;
        case 'blob': {
          const conversion = progress.converting;
          if (conversion && event.digest !== conversion.layer.digest && !planned.has(event.digest)) {
            // The converted layer is in: its new size replaces the estimate.
            progress.total += event.size - conversion.layer.size;
            progress.archiveTotal += event.size - conversion.layer.size;
            progress.converting = undefined;
            progress.estimated = --pending > 0;
          }
          if (event.status === 'exists') return;
          progress.blobs++;
          count(event.digest, event.size);
          break;
        }
        default:
          return;
      }
      report();
    },
  };
}
