/**
 * `rootfs save`: images from the store into one archive or layout. Blobs
 * stream from the store through verifying reads, each written once however
 * many images share it. A layer is only rewritten when its compression must
 * change; then it is spooled to a temp file (a tar header needs the size
 * first) and the manifest that names it is rewritten, its config untouched,
 * so the image ID stays what it was.
 */
import { rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Compression, CompressionChoice } from '../compress/index.js';
import { conversionOf, convertLayer } from '../engine/convert.js';
import type { LayerConversion } from '../oci/image-ends.js';
import { NotFoundError, UsageError } from '../errors.js';
import { digestHex, sha256 } from '../oci/digest.js';
import { familiarName, familiarRepository, fullName, parseReference, type ImageReference } from '../oci/reference.js';
import {
  Annotation,
  layerCompression,
  MediaType,
  type Descriptor,
  type Digest,
  type Index,
  type Manifest,
  type Platform,
  withoutNameAnnotations,
} from '../oci/types.js';
import type { Store, StoredReferrer } from '../store/store.js';
import type { ResolvedImage } from '../store/resolve.js';
import { parseIndex, parseJson, parseManifest } from '../oci/validate.js';
import type { FormatName } from './address.js';
import { dockerManifestName, type DockerManifestEntry } from './docker-archive.js';
import { blobMemberName, imageLayoutVersion } from '../oci/layout.js';
import { childrenFirst, type GraphNode } from '../oci/walk.js';
import { count } from '../text.js';
import type { LayerTally } from './contents.js';
import { withOmittedLayers } from './omitted-layers.js';
import { chooseReference, makeDelta, referenceLayers, withDeltaLayers, type DeltaEntry, type ReferenceLayer } from './delta-layers.js';
import { createDirSink, createTarSink, type ArchiveSink } from './archive-writer.js';
import { openStoredLayer } from '../layers/source.js';
import { Tap } from '../io/streams.js';
import { resolveImage } from '../store/resolve.js';


export interface SaveOptions {
  format: FormatName;
  compression: CompressionChoice;
  /** For the layers that are recompressed (levels.ts). */
  level?: number;
  /** Narrow multi-platform images to one platform (default: an index is saved whole in OCI formats, this machine's manifest in docker ones). */
  platform?: Platform;
  /** The REF of `FORMAT:PATH:REF`: the name (docker) or ref.name (oci) of the one image saved. */
  ref?: string;
  stdout: Writable;
  /** Before the first blob, then as bytes are read and written. */
  onProgress?: (progress: SaveProgress) => void;
  /** A layer whose media type its bytes contradict (oci/layer-media.ts): written as it is in keep, else converted from what its bytes are. */
  onWarning?: (message: string) => void;
  /** A layer about to be rewritten in another compression (before it is read). */
  onConvert?: (conversion: LayerConversion) => void;
  /** Layer blobs the receiving store holds (`rootfs have` there): left out of the archive. Manifests and configs always go in. */
  exclude?: Set<Digest>;
  /** Images the receiving store holds, resolved here: their layers are left out too. */
  since?: string[];
  /** false (--no-referrers): leave out the saved images' referrers (signatures, SBOMs: manifests whose subject is one of them). */
  referrers?: boolean;
  /**
   * With exclude or since: the layer encoders the site runs (its have file's), for layers sent as
   * deltas against layers it holds (transports/delta-layers.ts) into an archive file; absent
   * (--no-delta, or no site to patch against): whole layers only.
   */
  delta?: { encoders: Set<string> };
  /** What became of a layer that could have gone as a delta. */
  onDelta?: (outcome: DeltaOutcome) => void;
}

/** A layer the site lacks: sent as a delta (against reference, delta bytes), or whole, and why. */
export interface DeltaOutcome {
  layer: Descriptor;
  delta?: { reference: Digest; size: number };
  whole?: string;
}

export interface SaveProgress {
  /** Blob bytes written, and the stored bytes of layers read to convert them. */
  bytes: number;
  blobs: number;
  /**
   * What bytes will add up to, when known before the first blob (not for a multi-platform index kept
   * whole): a converted layer counts its stored size twice, read and written, until its new size is known.
   */
  total?: number;
  /** Of total, what the archive's blobs will add up to (the conversions' reading left out). */
  archiveTotal?: number;
  /** Some converted layer's new size is not known yet: the totals count its stored size for it. */
  estimated: boolean;
  /** The layer being converted now, if one is. */
  converting?: LayerConversion;
}


export interface SaveResult {
  images: SavedImage[];
  /** Layers left out because the receiving store holds them. */
  omitted: LayerTally;
  /** Layers sent as deltas (bytes: the deltas'). */
  deltas: LayerTally;
  /** Referrers written with the images (untagged index.json entries carrying their artifactType). */
  referrers: number;
}

export interface SavedImage {
  name: string | undefined;
  descriptor: Descriptor;
  /** Image ID (config digest) of the manifest chosen for docker formats, or of the platform picked from an index. */
  id: Digest;
}

interface Selected {
  ref: ImageReference | undefined;
  resolved: ResolvedImage;
}

/** An image as written: the descriptor it had in the store and the one it has in the archive (new when a layer was rewritten). */
interface Written {
  stored: Descriptor;
  archived: Descriptor;
}

const layoutFile = Buffer.from(JSON.stringify({ imageLayoutVersion }));

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
  const exclude = new Set([...(options.exclude ?? []), ...(await sinceLayers(store, options.since ?? [], options.platform))]);
  // A classic archive names layers by directory, not digest: a loader could not tell which layer it lacks.
  if (exclude.size > 0 && options.format === 'docker-legacy') throw new UsageError(`${options.since?.length ? '--since' : '--exclude-have'}: docker-legacy archives cannot leave layers out; save a delta as docker-archive or oci-archive`);
  if (options.ref !== undefined && texts.length > 1) throw new UsageError(`${options.format}:${path}:${options.ref} names one image, but ${texts.length} are being saved`);
  const selected: Selected[] = [];
  for (const text of texts) {
    const resolved = await resolveImage(store, text, options.platform);
    const named = options.ref !== undefined && options.format !== 'oci' && options.format !== 'oci-archive' ? options.ref : resolved.name;
    selected.push({ ref: named === undefined ? undefined : withTag(parseReference(named)), resolved });
  }

  const dir = options.format === 'oci' ? await createDirSink(path) : undefined;
  const sink = dir ? dir.sink : await createTarSink(path, options.stdout);
  try {
    // Only an archive file carries deltas: an oci: layout's reader reaches only the blobs its index names.
    const deltas = options.delta && exclude.size > 0 && options.format !== 'oci' ? { encoders: options.delta.encoders, references: await referenceLayers(store, exclude) } : undefined;
    const exporter = new Exporter(store, sink, options, exclude, deltas);
    await exporter.plan(selected);
    const saved = options.format === 'oci' || options.format === 'oci-archive' ? await writeOci(exporter, sink, selected, options, dir?.existingIndex) : await writeDocker(exporter, sink, selected, options);
    await sink.finish();
    return { images: saved.images, omitted: { layers: exporter.omitted.size, bytes: [...exporter.omitted.values()].reduce((sum, size) => sum + size, 0) }, deltas: { layers: exporter.deltas.length, bytes: exporter.deltas.reduce((sum, entry) => sum + entry.deltaSize, 0) }, referrers: saved.referrers };
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

/** A name resolved by digest has no tag to write; docker writes such images untagged too. */
function withTag(ref: ImageReference): ImageReference | undefined {
  return ref.tag === undefined ? undefined : { registry: ref.registry, repository: ref.repository, tag: ref.tag };
}

async function writeOci(exporter: Exporter, sink: ArchiveSink, selected: Selected[], options: SaveOptions, existingIndex: Buffer | undefined): Promise<{ images: SavedImage[]; referrers: number }> {
  await sink.addBytes('oci-layout', layoutFile);
  const index: Index = existingIndex ? parseIndex(parseJson(existingIndex.toString('utf8'), 'index.json'), 'index.json') : { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
  const saved: SavedImage[] = [];
  const written: Written[] = [];
  const renamed = new Set<string>();
  const added: Descriptor[] = [];
  for (const { ref, resolved } of selected) {
    // Without --platform an index is kept whole: every platform the store has.
    const top = options.platform ? resolved.manifestDescriptor : resolved.descriptor;
    exporter.repository = ref ? familiarRepository(ref) : undefined;
    const { descriptor } = await exporter.export(withoutNameAnnotations(top));
    written.push({ stored: top, archived: descriptor });
    const refName = options.ref ?? (ref ? familiarName(ref) : undefined);
    const entry: Descriptor = { ...descriptor };
    if (refName !== undefined || ref) {
      entry.annotations = { ...entry.annotations, ...(refName !== undefined ? { [Annotation.RefName]: refName } : {}), ...(ref ? { [Annotation.ContainerdImageName]: fullName(ref) } : {}) };
    }
    if (refName !== undefined) renamed.add(refName);
    added.push(entry);
    saved.push({ name: refName, descriptor: entry, id: resolved.manifest.config.digest });
  }
  // As skopeo's oci:DIR:REF: a ref.name already in the layout now means this image. In one pass, not one per image.
  index.manifests = index.manifests.filter((existing) => !renamed.has(existing.annotations?.[Annotation.RefName] ?? ''));
  const present = new Set(index.manifests.map((existing) => JSON.stringify(existing)));
  for (const entry of added) {
    const key = JSON.stringify(entry);
    if (present.has(key)) continue;
    present.add(key);
    index.manifests.push(entry);
  }
  const referrers = await exporter.exportReferrers(written);
  const digests = new Set(index.manifests.map((existing) => existing.digest));
  for (const entry of referrers) {
    if (digests.has(entry.digest)) continue;
    digests.add(entry.digest);
    index.manifests.push(entry);
  }
  await sink.addBytes('index.json', Buffer.from(JSON.stringify(withDeltaLayers(withOmittedLayers(index, exporter.omitted.keys(), 'index.json'), exporter.deltas))));
  return { images: saved, referrers: referrers.length };
}

/**
 * Docker 25+ hybrid: an OCI layout (blobs/sha256, index.json with containerd's
 * name annotations) plus manifest.json pointing into blobs/, which every docker
 * since 1.10 and skopeo read. Legacy: manifest.json over `<hex>/layer.tar`
 * directories and `<config hex>.json`, with `repositories`, as docker save
 * wrote before 25.
 */
async function writeDocker(exporter: Exporter, sink: ArchiveSink, selected: Selected[], options: SaveOptions): Promise<{ images: SavedImage[]; referrers: number }> {
  const legacy = options.format === 'docker-legacy';
  const written: Written[] = [];
  const entries: DockerManifestEntry[] = [];
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
  const repositories: Record<string, Record<string, string>> = {};
  const saved: SavedImage[] = [];
  for (const { ref, resolved } of selected) {
    // manifest.json holds one config per entry: an index is narrowed to the platform store.resolve picked.
    exporter.repository = ref ? familiarRepository(ref) : undefined;
    const { descriptor, manifest: exported } = await exporter.exportManifest(withoutNameAnnotations(resolved.manifestDescriptor), legacy ? legacyNames : ociNames);
    written.push({ stored: resolved.manifestDescriptor, archived: descriptor });
    const configName = legacy ? `${digestHex(exported.config.digest)}.json` : blobMemberName(exported.config.digest);
    const layers = exported.layers.map((layer) => (legacy ? legacyLayerName(layer.digest) : blobMemberName(layer.digest)));
    const tag = ref ? familiarName(ref) : undefined;
    const same = entries.find((entry) => entry.Config === configName && entry.Layers.join('\n') === layers.join('\n'));
    if (same && tag !== undefined && !same.RepoTags!.includes(tag)) same.RepoTags!.push(tag);
    else if (!same) entries.push({ Config: configName, RepoTags: tag !== undefined ? [tag] : [], Layers: layers });
    if (ref && legacy) (repositories[familiarRepository(ref)] ??= {})[ref.tag!] = digestHex(exported.layers[exported.layers.length - 1]?.digest ?? exported.config.digest);
    if (!legacy) {
      const entry: Descriptor = { ...descriptor };
      if (ref) entry.annotations = { ...entry.annotations, [Annotation.ContainerdImageName]: fullName(ref), [Annotation.RefName]: ref.tag! };
      index.manifests.push(entry);
    }
    saved.push({ name: tag, descriptor, id: exported.config.digest });
  }
  let referrers = 0;
  if (legacy) {
    const left = await exporter.referrersOf(written);
    if (left.length > 0) options.onWarning?.(`${count(left.length, 'referrer')} left out: docker-legacy archives cannot hold them`);
    for (const name of new Set(entries.flatMap((entry) => entry.Layers))) {
      const id = name.slice(0, name.indexOf('/'));
      await sink.addBytes(`${id}/VERSION`, Buffer.from('1.0'));
      await sink.addBytes(`${id}/json`, Buffer.from(JSON.stringify({ id, created: '1970-01-01T00:00:00Z' })));
    }
  } else {
    const referrerEntries = await exporter.exportReferrers(written);
    index.manifests.push(...referrerEntries);
    referrers = referrerEntries.length;
    await sink.addBytes('index.json', Buffer.from(JSON.stringify(withDeltaLayers(withOmittedLayers(index, exporter.omitted.keys(), 'index.json'), exporter.deltas))));
  }
  await sink.addBytes(dockerManifestName, Buffer.from(JSON.stringify(entries)));
  if (legacy) await sink.addBytes('repositories', Buffer.from(JSON.stringify(repositories)));
  else await sink.addBytes('oci-layout', layoutFile);
  return { images: saved, referrers };
}

/** Where the blobs of an image go in the archive; null: not written (the legacy layout has no manifests). */
interface BlobNames {
  manifest(digest: Digest): string | null;
  config(digest: Digest): string;
  layer(digest: Digest): string;
}

const ociNames: BlobNames = { manifest: blobMemberName, config: blobMemberName, layer: blobMemberName };
const legacyNames: BlobNames = { manifest: () => null, config: (digest) => `${digestHex(digest)}.json`, layer: legacyLayerName };

function legacyLayerName(digest: Digest): string {
  return `${digestHex(digest)}/layer.tar`;
}

/** Walks an image graph out of the store into the sink, converting layers where the target compression says so. */
class Exporter {
  private readonly layers = new Map<Digest, Promise<Descriptor>>();
  readonly progress: SaveProgress = { bytes: 0, blobs: 0, estimated: false };
  /** Layers planned for conversion whose new size is not yet known. */
  private pending = 0;
  /** What each layer's stored bytes are, by digest, looked at once. */
  private readonly stored = new Map<Digest, Promise<Compression>>();
  /** Layers left out (the receiving store holds them), by digest in the archive, with their sizes. */
  readonly omitted = new Map<Digest, number>();
  /** Layers sent as deltas. */
  readonly deltas: DeltaEntry[] = [];
  /** The repository of the image being exported: a layer's delta reference is looked for there first. */
  repository: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly sink: ArchiveSink,
    private readonly options: SaveOptions,
    private readonly exclude: Set<Digest>,
    private readonly delta: { encoders: Set<string>; references: ReferenceLayer[] } | undefined,
  ) {}

  /**
   * The totals: each selected image's config and layers, once each, minus those left out; a layer to
   * convert counts its stored size, read to convert it, and once more for what it will write, until
   * that is known.
   */
  async plan(selected: Selected[]): Promise<void> {
    const blobs = new Map<Digest, number>();
    const converted = new Map<Digest, number>();
    // An index kept whole writes every platform the store has: more than the one manifest resolved here.
    const whole = !this.options.platform && selected.some(({ resolved }) => resolved.descriptor.digest !== resolved.manifestDescriptor.digest);
    for (const { resolved } of whole ? [] : selected) {
      if (!this.exclude.has(resolved.manifest.config.digest)) blobs.set(resolved.manifest.config.digest, resolved.manifest.config.size);
      for (const layer of resolved.manifest.layers) {
        if (await this.conversion(layer)) converted.set(layer.digest, layer.size);
        else if (!this.exclude.has(layer.digest)) blobs.set(layer.digest, layer.size);
      }
    }
    this.pending = converted.size;
    if (!whole) {
      const sum = (sizes: Map<Digest, number>): number => [...sizes.values()].reduce((a, b) => a + b, 0);
      this.progress.archiveTotal = sum(blobs) + sum(converted);
      this.progress.total = this.progress.archiveTotal + sum(converted);
    }
    // A delta's size is known only once it is made: the totals count the whole layer until then.
    this.progress.estimated = this.pending > 0 || this.delta !== undefined;
    this.options.onProgress?.(this.progress);
  }

  /**
   * Writes the blobs under descriptor (a manifest or index); returns its descriptor in the archive (new if a layer changed).
   * The one walk (oci/walk.ts) collects the documents, nested indexes to maxIndexDepth; they are written children first,
   * an index rewritten when a child's digest changed.
   */
  async export(descriptor: Descriptor, names: BlobNames = ociNames): Promise<{ descriptor: Descriptor }> {
    // Platforms the store never pulled stay listed, as in the source index; their blobs are not ours to write.
    const present = async (node: GraphNode, all: Descriptor[]): Promise<Descriptor[]> => {
      if (node.document?.kind !== 'index') return [];
      const here: Descriptor[] = [];
      for (const child of all) if (await this.store.hasBlob(child.digest)) here.push(child);
      return here;
    };
    const nodes: GraphNode[] = [];
    for await (const node of this.store.walk([descriptor], present)) nodes.push(node);
    const archived = new Map<Digest, Descriptor>();
    for (const node of childrenFirst(nodes)) {
      const { document, bytes } = node;
      let out: Descriptor;
      if (document?.kind === 'manifest') out = (await this.writeManifest(node.descriptor, bytes!, document.manifest, names)).descriptor;
      else if (document?.kind === 'index') {
        const children = document.index.manifests.map((child) => {
          const written = archived.get(child.digest);
          return written && written.digest !== child.digest ? { ...child, digest: written.digest, size: written.size } : child;
        });
        const changed = children.some((child, i) => child.digest !== document.index.manifests[i]!.digest);
        out = await this.writeDocument(node.descriptor, changed ? { ...document.index, manifests: children } : undefined, bytes!, names);
      } else throw new UsageError(`${node.descriptor.digest}: cannot save a ${node.descriptor.mediaType}`);
      archived.set(node.descriptor.digest, out);
    }
    return { descriptor: archived.get(descriptor.digest)! };
  }

  async exportManifest(descriptor: Descriptor, names: BlobNames): Promise<{ descriptor: Descriptor; manifest: Manifest }> {
    const bytes = await this.store.readBlob(descriptor.digest, descriptor.size);
    const where = this.store.blobPath(descriptor.digest);
    return this.writeManifest(descriptor, bytes, parseManifest(parseJson(bytes.toString('utf8'), where), where), names);
  }

  private async writeManifest(descriptor: Descriptor, bytes: Buffer, manifest: Manifest, names: BlobNames): Promise<{ descriptor: Descriptor; manifest: Manifest }> {
    await this.copyBlob(manifest.config, names.config(manifest.config.digest));
    const docker = descriptor.mediaType === MediaType.DockerManifest;
    const layers: Descriptor[] = [];
    for (const [position, layer] of manifest.layers.entries()) layers.push(await this.exportLayer(layer, names, docker, position));
    // A relabelled layer (bytes kept, media type corrected) changes the manifest too.
    const changed = layers.some((layer, i) => layer.digest !== manifest.layers[i]!.digest || layer.mediaType !== manifest.layers[i]!.mediaType);
    const exported = changed ? { ...manifest, layers } : manifest;
    return { descriptor: await this.writeDocument(descriptor, changed ? exported : undefined, bytes, names), manifest: exported };
  }

  /** Writes a manifest or index: its stored bytes when unchanged, else the rewritten document. */
  private async writeDocument(descriptor: Descriptor, rewritten: object | undefined, bytes: Buffer, names: BlobNames): Promise<Descriptor> {
    const data = rewritten ? Buffer.from(JSON.stringify(rewritten)) : bytes;
    const out: Descriptor = rewritten ? { ...descriptor, digest: sha256(data), size: data.length } : descriptor;
    const name = names.manifest(out.digest);
    if (name !== null && !this.sink.has(name)) await this.sink.addBytes(name, data);
    return out;
  }

  /**
   * The referrers (transitively) of the images written whose digests the
   * archive keeps; those of an image rewritten on the way (--compression)
   * name a digest the archive does not hold, and are left out with a warning.
   */
  async referrersOf(written: Written[]): Promise<StoredReferrer[]> {
    if (this.options.referrers === false) return [];
    const subjects = new Set<Digest>();
    let rewritten = 0;
    for (const { stored, archived } of written) {
      const own = await this.store.subjectsOf(stored);
      if (archived.digest === stored.digest) own.forEach((digest) => subjects.add(digest));
      else rewritten += (await this.store.referrerClosure(own)).length;
    }
    if (rewritten > 0) this.options.onWarning?.(`${count(rewritten, 'referrer')} left out: their subject's digest changed when its layers were recompressed`);
    return this.store.referrerClosure([...subjects], this.options.onWarning);
  }

  /** Writes the referrers of the images written, byte for byte, and returns their index.json entries: untagged, with their artifactType, as oras and skopeo list them. */
  async exportReferrers(written: Written[]): Promise<Descriptor[]> {
    const entries: Descriptor[] = [];
    for (const { descriptor } of await this.referrersOf(written)) entries.push(await this.exportVerbatim(withoutNameAnnotations(descriptor)));
    return entries;
  }

  /** A referrer's manifest (or index) and every blob under it, as stored: its digest is what its own referrers and signatures name. */
  private async exportVerbatim(descriptor: Descriptor): Promise<Descriptor> {
    let artifactType = descriptor.artifactType;
    // An index's children the store lacks are left out, as the layout spec allows; a manifest's blobs must all be here.
    const present = async (node: GraphNode, all: Descriptor[]): Promise<Descriptor[]> => {
      if (node.document?.kind !== 'index') return all;
      const here: Descriptor[] = [];
      for (const child of all) if (await this.store.hasBlob(child.digest)) here.push(child);
      return here;
    };
    for await (const node of this.store.walk([descriptor], present)) {
      const name = blobMemberName(node.descriptor.digest);
      if (!node.document) {
        await this.copyBlob(node.descriptor, name);
        continue;
      }
      // The image-spec's rule for a referrer without an artifactType: its config's media type.
      if (node.depth === 0) artifactType ??= node.document.kind === 'index' ? node.document.index.artifactType : node.document.kind === 'manifest' ? (node.document.manifest.artifactType ?? node.document.manifest.config.mediaType) : undefined;
      if (!this.sink.has(name)) await this.sink.addBytes(name, node.bytes!);
    }
    return artifactType === undefined ? descriptor : { ...descriptor, artifactType };
  }

  private exportLayer(layer: Descriptor, names: BlobNames, docker: boolean, position: number): Promise<Descriptor> {
    let done = this.layers.get(layer.digest);
    if (!done) {
      done = this.convertOrCopy(layer, names, docker, position);
      this.layers.set(layer.digest, done);
    }
    return done;
  }

  private async convertOrCopy(layer: Descriptor, names: BlobNames, docker: boolean, position: number): Promise<Descriptor> {
    const conversion = await this.conversion(layer);
    if (!conversion) {
      if (!this.leaveOut(layer) && !(await this.sendDelta(layer, position))) await this.copyBlob(layer, names.layer(layer.digest));
      return layer;
    }
    this.options.onConvert?.(conversion);
    this.progress.converting = conversion;
    const path = await this.sink.spoolPath();
    // Its label was judged when its bytes were first looked at (storedCompression).
    const { stream } = await openStoredLayer(this.store, layer);
    const counted = stream.pipe(new Tap((chunk) => this.countBytes(chunk.length)));
    stream.on('error', (err) => counted.destroy(err));
    try {
      const converted = await convertLayer(counted, conversion, this.options.level, docker, path);
      const name = names.layer(converted.digest);
      // A converted layer is left out by the digest it has in the archive: that is what the receiver would hold.
      if (this.sink.has(name) || this.leaveOut(converted)) await rm(path, { force: true });
      else await this.sink.addFile(name, path, converted.size);
      this.progress.converting = undefined;
      if (this.progress.total !== undefined) this.progress.total += converted.size - layer.size;
      if (this.progress.archiveTotal !== undefined) this.progress.archiveTotal += converted.size - layer.size;
      this.progress.estimated = --this.pending > 0;
      this.count(converted.size);
      return converted;
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
  }

  /**
   * What a layer becomes, if it changes, judged by what its bytes are (oci/layer-media.ts). keep: as
   * stored, byte for byte under its own media type (a mislabelled layer too: its digest and its
   * manifest's are kept), except zstd into a docker archive, which becomes uncompressed, as Docker
   * 25+ itself saves layers (docker before 23 and skopeo's docker-archive writer take no zstd).
   * Another compression: converted from what the bytes are, and labelled as what is written. Not a
   * layer type we know (an attestation's in-toto JSON, a foreign type): it travels as it is.
   */
  private async conversion(layer: Descriptor): Promise<LayerConversion | undefined> {
    if (layerCompression(layer.mediaType) === undefined) return undefined;
    const docker = this.options.format === 'docker-archive' || this.options.format === 'docker-legacy';
    return conversionOf(layer, await this.storedCompression(layer), this.options, docker ? ['zstd'] : []);
  }

  /** What a stored layer's bytes are: one look per layer, which says once if its media type is wrong. */
  private storedCompression(layer: Descriptor): Promise<Compression> {
    let known = this.stored.get(layer.digest);
    if (!known) {
      known = openStoredLayer(this.store, layer, this.options.onWarning).then(({ compression, stream }) => {
        stream.destroy();
        return compression;
      });
      this.stored.set(layer.digest, known);
    }
    return known;
  }

  /**
   * A layer the site lacks, as a delta against one it holds (delta-layers.ts): true when the delta
   * went into the archive instead of the layer. Converted layers always go whole: their bytes are new.
   */
  private async sendDelta(layer: Descriptor, position: number): Promise<boolean> {
    if (!this.delta || layerCompression(layer.mediaType) === undefined) return false;
    const reference = chooseReference(this.delta.references, this.repository, position);
    if (!reference) {
      this.options.onDelta?.({ layer, whole: 'the site holds no layer to patch it against' });
      return false;
    }
    const attempt = await makeDelta(this.store, layer, reference, this.delta.encoders, () => this.sink.spoolPath());
    if ('whole' in attempt) {
      this.options.onDelta?.({ layer, whole: attempt.whole });
      return false;
    }
    const name = blobMemberName(attempt.entry.delta);
    // The same delta twice (one layer in two images) is one member.
    if (this.sink.has(name)) await rm(attempt.path, { force: true });
    else await this.sink.addFile(name, attempt.path, attempt.entry.deltaSize);
    this.deltas.push(attempt.entry);
    this.options.onDelta?.({ layer, delta: { reference: reference.layer.digest, size: attempt.entry.deltaSize } });
    this.count(attempt.entry.deltaSize);
    return true;
  }

  private leaveOut(layer: Descriptor): boolean {
    if (!this.exclude.has(layer.digest)) return false;
    this.omitted.set(layer.digest, layer.size);
    return true;
  }

  private async copyBlob(descriptor: Descriptor, name: string): Promise<void> {
    if (this.sink.has(name)) return;
    const body = new Tap((chunk) => this.countBytes(chunk.length));
    // pipeline, not pipe: a digest mismatch at the blob's end must fail the member, not end it quietly.
    pipeline(this.store.openBlob(descriptor.digest, descriptor.size), body).catch(() => {});
    await this.sink.addStream(name, descriptor.size, body);
    this.count(0);
  }

  private countBytes(bytes: number): void {
    this.progress.bytes += bytes;
    this.options.onProgress?.(this.progress);
  }

  private count(bytes: number): void {
    this.progress.blobs++;
    this.countBytes(bytes);
  }
}
