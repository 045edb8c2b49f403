/**
 * An archive or layout as the destination of the one copy (engine/copy.ts):
 * docker-archive (Docker 25+: an OCI layout plus manifest.json, read by
 * every docker since 1.10 and by skopeo), docker-legacy (manifest.json over
 * `<hex>/layer.tar` directories, `<config hex>.json` and `repositories`, as
 * docker save wrote before 25), oci-archive and an oci: directory. Each copy
 * puts one image's blobs and documents as members (archive-writer.ts) and
 * its names at commit; finish() writes the indexes, names last. Layers the
 * receiving store holds (--exclude-have, --since) are left out and named in
 * index.json; a layer the site can rebuild from one it holds goes as a
 * delta (delta-layers.ts).
 */
import type { Readable, Writable } from 'node:stream';
import type { Compression } from '../compress/index.js';
import { UsageError } from '../errors.js';
import { digestHex } from '../oci/digest.js';
import type { BlobArrival, DestinationNames, Document, ImageDestination, LayerPlace } from '../oci/image-ends.js';
import { blobMemberName, imageLayoutVersion } from '../oci/layout.js';
import { familiarName, familiarRepository, fullName, parseReference, type ImageReference } from '../oci/reference.js';
import { Annotation, layerCompression, MediaType, type Descriptor, type Digest, type Index, type Manifest } from '../oci/types.js';
import { parseIndex, parseJson, parseManifest } from '../oci/validate.js';
import type { Store } from '../store/store.js';
import type { FormatName } from './address.js';
import { createDirSink, createTarSink, type ArchiveSink } from './archive-writer.js';
import { withDeltaLayers, type DeltaEntry } from './delta-annotation.js';
import { chooseReference, makeDelta, type ReferenceLayer } from './delta-layers.js';
import { dockerManifestName, type DockerManifestEntry } from './docker-archive.js';
import { withOmittedLayers } from './omitted-layers.js';

export interface ArchiveDestinationOptions {
  format: FormatName;
  /** The REF of `FORMAT:PATH:REF`: the name (docker) or ref.name (oci) of the one image written. */
  ref?: string;
  /** index.json of the existing layout written into (oci:), whose entries stay. */
  existingIndex?: Index;
  /** Layer blobs the receiving store holds: left out, and named in index.json so that load finds them there. */
  exclude?: Set<Digest>;
  /** Layers the site lacks, as deltas against layers it holds (the store the layers and their references are read from). */
  deltas?: { store: Store; encoders: Set<string>; references: ReferenceLayer[]; onDelta?: (outcome: DeltaOutcome) => void };
}

/** A layer the site lacks: sent as a delta (against reference, delta bytes), or whole, and why. */
export interface DeltaOutcome {
  layer: Descriptor;
  delta?: { reference: Digest; size: number };
  whole?: string;
}

/** An image as the archive names it. */
const layoutFile = Buffer.from(JSON.stringify({ imageLayoutVersion }));
const configTypes = new Set<string>([MediaType.ImageConfig, MediaType.DockerConfig]);

export class ArchiveDestination implements ImageDestination {
  readonly cannotHold: readonly Compression[];
  readonly refusesReferrers: string | undefined;
  /** A store's index of which one platform was pulled is saved as it is, listing the others (as the layout spec allows). */
  readonly takesPartialIndexes = true;
  /** Layers left out, by digest, with their sizes. */
  readonly omitted = new Map<Digest, number>();
  readonly deltaEntries: DeltaEntry[] = [];
  /** The repository of the image being copied: a layer's delta reference is looked for there first. */
  repository: string | undefined;
  /** The name each image took here, in the order they were committed (undefined: kept by digest alone). */
  readonly names: Array<string | undefined> = [];
  private readonly docker: boolean;
  private readonly legacy: boolean;
  private readonly manifestsPut = new Map<Digest, Manifest>();
  private readonly entries: DockerManifestEntry[] = [];
  private readonly indexEntries: Descriptor[] = [];
  private readonly referrerEntries: Descriptor[] = [];
  private readonly repositories: Record<string, Record<string, string>> = {};
  private ended = false;
  private started: Promise<void> | undefined;

  constructor(private readonly sink: ArchiveSink, readonly where: string, private readonly options: ArchiveDestinationOptions) {
    this.docker = options.format === 'docker-archive' || options.format === 'docker-legacy';
    this.legacy = options.format === 'docker-legacy';
    // Docker 25+ saves zstd layers uncompressed; docker before 23 and skopeo's docker-archive reader take no zstd.
    this.cannotHold = this.docker ? ['zstd'] : [];
    this.refusesReferrers = this.legacy ? 'docker-legacy archives cannot hold them' : undefined;
  }

  async has(descriptor: Descriptor, layer?: LayerPlace): Promise<boolean> {
    if (layer && this.options.exclude?.has(descriptor.digest)) {
      this.omitted.set(descriptor.digest, descriptor.size);
      return true;
    }
    return this.sink.has(this.nameOf(descriptor));
  }

  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>, _onProgress: (done: number) => void, layer?: LayerPlace): Promise<BlobArrival> {
    await this.start();
    if (layer && (await this.sendDelta(descriptor, layer.position))) return { status: 'written' };
    await this.sink.addStream(this.nameOf(descriptor), descriptor.size, await open());
    return { status: 'written' };
  }

  async putSmallBlob(descriptor: Descriptor, bytes: Buffer): Promise<BlobArrival> {
    await this.start();
    await this.sink.addBytes(this.nameOf(descriptor), bytes);
    return { status: 'written' };
  }

  spoolPath(): Promise<string> {
    return this.sink.spoolPath();
  }

  async putSpooled(descriptor: Descriptor, path: string): Promise<BlobArrival> {
    await this.start();
    await this.sink.addFile(this.nameOf(descriptor), path, descriptor.size);
    return { status: 'written' };
  }

  async putDocument({ descriptor, bytes }: Document): Promise<void> {
    const where = `${this.where}: ${descriptor.digest}`;
    // A docker archive's manifest.json names each image's config and layers, from the manifest it commits.
    if (this.docker && (descriptor.mediaType === MediaType.ImageManifest || descriptor.mediaType === MediaType.DockerManifest)) this.manifestsPut.set(descriptor.digest, parseManifest(parseJson(bytes.toString('utf8'), where), where));
    await this.start();
    // The legacy layout has no manifests: manifest.json names the config and the layers.
    if (!this.legacy) await this.sink.addBytes(blobMemberName(descriptor.digest), bytes);
  }

  async commit({ image, referrers }: DestinationNames): Promise<void> {
    const ref = image.tags[0];
    const descriptor = image.descriptor;
    if (!this.docker) {
      const refName = this.options.ref ?? (ref ? familiarName(ref) : undefined);
      const entry: Descriptor = { ...descriptor };
      if (refName !== undefined || ref) entry.annotations = { ...entry.annotations, ...(refName !== undefined ? { [Annotation.RefName]: refName } : {}), ...(ref ? { [Annotation.ContainerdImageName]: fullName(ref) } : {}) };
      this.indexEntries.push(entry);
      this.names.push(refName);
    } else {
      const manifest = this.manifestsPut.get(descriptor.digest);
      if (!manifest) throw new UsageError(`${this.where}: a ${this.options.format} archive holds one platform's manifest per image, and ${descriptor.digest} is an index; choose a platform with --platform`);
      const configName = this.nameOf(manifest.config);
      const layers = manifest.layers.map((layer) => (this.legacy ? legacyLayerName(layer.digest) : blobMemberName(layer.digest)));
      const tag = ref ? familiarName(ref) : undefined;
      const same = this.entries.find((entry) => entry.Config === configName && entry.Layers.join('\n') === layers.join('\n'));
      if (same && tag !== undefined && !same.RepoTags!.includes(tag)) same.RepoTags!.push(tag);
      else if (!same) this.entries.push({ Config: configName, RepoTags: tag !== undefined ? [tag] : [], Layers: layers });
      if (ref && this.legacy) (this.repositories[familiarRepository(ref)] ??= {})[ref.tag!] = digestHex(manifest.layers[manifest.layers.length - 1]?.digest ?? manifest.config.digest);
      if (!this.legacy) this.indexEntries.push(ref ? { ...descriptor, annotations: { ...descriptor.annotations, [Annotation.ContainerdImageName]: fullName(ref), [Annotation.RefName]: ref.tag! } } : descriptor);
      this.names.push(tag);
    }
    // Untagged index.json entries carrying their artifactType, as oras and skopeo list referrers.
    const listed = new Set(this.referrerEntries.map((entry) => entry.digest));
    for (const { descriptor: referrer } of referrers) {
      if (listed.has(referrer.digest)) continue;
      listed.add(referrer.digest);
      const { mediaType, digest, size, artifactType } = referrer;
      this.referrerEntries.push({ mediaType, digest, size, ...(artifactType !== undefined ? { artifactType } : {}) });
    }
  }

  /** The referrers written with the images. */
  get referrers(): number {
    return this.referrerEntries.length;
  }

  /** Every image is in: the indexes, names last, and the archive closed (renamed into place). */
  async finish(): Promise<void> {
    await this.start();
    if (this.legacy) {
      for (const name of new Set(this.entries.flatMap((entry) => entry.Layers))) {
        const id = name.slice(0, name.indexOf('/'));
        await this.sink.addBytes(`${id}/VERSION`, Buffer.from('1.0'));
        await this.sink.addBytes(`${id}/json`, Buffer.from(JSON.stringify({ id, created: '1970-01-01T00:00:00Z' })));
      }
    } else {
      await this.sink.addBytes('index.json', Buffer.from(JSON.stringify(withDeltaLayers(withOmittedLayers(this.index(), this.omitted.keys(), 'index.json'), this.deltaEntries))));
    }
    if (this.docker) {
      await this.sink.addBytes(dockerManifestName, Buffer.from(JSON.stringify(this.entries)));
      if (this.legacy) await this.sink.addBytes('repositories', Buffer.from(JSON.stringify(this.repositories)));
      else await this.sink.addBytes('oci-layout', layoutFile);
    }
    await this.sink.finish();
    this.ended = true;
  }

  /** Everything written goes: the output is as it was (a failed finish too). Once, however many copies fail into it. */
  async abort(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.sink.abort();
  }

  /** An OCI archive or layout says what it is first, as skopeo and umoci write it. */
  private start(): Promise<void> {
    this.started ??= this.docker ? Promise.resolve() : this.sink.addBytes('oci-layout', layoutFile);
    return this.started;
  }

  /**
   * index.json: an existing layout's entries, less those whose ref.name an
   * image now takes (as skopeo's oci:DIR:REF), then the images, then the
   * referrers, each once.
   */
  private index(): Index {
    const index: Index = this.options.existingIndex ? { ...this.options.existingIndex } : { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
    const renamed = new Set(this.indexEntries.flatMap((entry) => (this.docker ? [] : [entry.annotations?.[Annotation.RefName] ?? ''])));
    index.manifests = index.manifests.filter((existing) => !renamed.has(existing.annotations?.[Annotation.RefName] ?? ''));
    const present = new Set(index.manifests.map((existing) => JSON.stringify(existing)));
    for (const entry of this.indexEntries) {
      const key = JSON.stringify(entry);
      if (present.has(key)) continue;
      present.add(key);
      index.manifests.push(entry);
    }
    const digests = new Set(index.manifests.map((existing) => existing.digest));
    for (const entry of this.referrerEntries) if (!digests.has(entry.digest)) index.manifests.push(entry);
    return index;
  }

  /** A blob's member name: blobs/sha256/HEX, or in a legacy archive HEX.json for a config and HEX/layer.tar for a layer. */
  private nameOf(descriptor: Descriptor): string {
    if (!this.legacy) return blobMemberName(descriptor.digest);
    return configTypes.has(descriptor.mediaType) ? `${digestHex(descriptor.digest)}.json` : legacyLayerName(descriptor.digest);
  }

  /**
   * A layer the site lacks, as a delta against one it holds: true when the
   * delta went in instead of the layer. Only a layer this store holds (not
   * one converted on the way: its bytes are new) can be one.
   */
  private async sendDelta(layer: Descriptor, position: number): Promise<boolean> {
    const deltas = this.options.deltas;
    if (!deltas || layerCompression(layer.mediaType) === undefined || !(await deltas.store.hasBlob(layer.digest))) return false;
    const reference = chooseReference(deltas.references, this.repository, position);
    if (!reference) {
      deltas.onDelta?.({ layer, whole: 'the site holds no layer to patch it against' });
      return false;
    }
    const attempt = await makeDelta(deltas.store, layer, reference, deltas.encoders, () => this.sink.spoolPath());
    if ('whole' in attempt) {
      deltas.onDelta?.({ layer, whole: attempt.whole });
      return false;
    }
    // The same delta twice (one layer in two images) is one member.
    await this.sink.addFile(blobMemberName(attempt.entry.delta), attempt.path, attempt.entry.deltaSize);
    this.deltaEntries.push(attempt.entry);
    deltas.onDelta?.({ layer, delta: { reference: reference.layer.digest, size: attempt.entry.deltaSize } });
    return true;
  }
}

function legacyLayerName(digest: Digest): string {
  return `${digestHex(digest)}/layer.tar`;
}

/**
 * fn's copies into the archive or layout at path ('-': stdout), then its
 * indexes, names last; any failure removes everything written, and the
 * output is as it was.
 */
export async function writeArchive<T>(path: string, stdout: Writable, options: Omit<ArchiveDestinationOptions, 'existingIndex'>, fn: (destination: ArchiveDestination) => Promise<T>): Promise<T> {
  const dir = options.format === 'oci' ? await createDirSink(path) : undefined;
  const sink = dir ? dir.sink : await createTarSink(path, stdout);
  let existingIndex: Index | undefined;
  try {
    // An existing layout's index is read before anything is written into it: a damaged one is refused with the layout untouched.
    if (dir?.existingIndex) existingIndex = parseIndex(parseJson(dir.existingIndex.toString('utf8'), `${path}/index.json`), `${path}/index.json`);
  } catch (err) {
    await sink.abort();
    throw err;
  }
  const destination = new ArchiveDestination(sink, path === '-' ? 'stdout' : path, { ...options, ...(existingIndex ? { existingIndex } : {}) });
  try {
    const result = await fn(destination);
    await destination.finish();
    return result;
  } catch (err) {
    await destination.abort();
    throw err;
  }
}

/** The names the image last committed into destination took there, as a moved image lists them. */
export function archivedTags(destination: ArchiveDestination): string[] {
  const name = destination.names[destination.names.length - 1];
  return name !== undefined ? [name] : [];
}

/**
 * The name an image takes in an archive: the REF of `FORMAT:PATH:REF` in a
 * docker archive (an OCI one gives it as ref.name itself), else its own
 * name; none for a name by digest alone, which docker writes untagged too.
 */
export function archiveTag(format: FormatName, addressRef: string | undefined, name: string | undefined): ImageReference | undefined {
  const docker = format === 'docker-archive' || format === 'docker-legacy';
  const named = addressRef !== undefined && docker ? addressRef : name;
  if (named === undefined) return undefined;
  const ref = parseReference(named);
  return ref.tag === undefined ? undefined : { registry: ref.registry, repository: ref.repository, tag: ref.tag };
}
