/**
 * `rootfs load`: an archive or layout into the store. One pass over the
 * input (ArchiveContents) stages every blob; then each image is the one copy
 * (engine/copy.ts) from the staged archive into the store, checked whole;
 * only when every image holds are the blobs committed and the names given,
 * in one update. Any failure before that leaves the store as it was: no
 * tag, no temp file.
 */
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { copyImage, type CopyImageOptions, type MoveOptions } from '../engine/copy.js';
import type { MovedImage } from '../oci/image-ends.js';
import { fromFsError, InvalidInputError, UsageError } from '../errors.js';
import { familiarName, isTagReference, localRepository, type ImageReference } from '../oci/reference.js';
import { Annotation, type Descriptor, type Digest, type Index, type Platform } from '../oci/types.js';
import { namesSubject, parseIndex, parseJson } from '../oci/validate.js';
import { documentCaps, readMetadata } from '../io/metadata.js';
import { isDigest } from '../oci/digest.js';
import { StoreDestination } from '../store/image-ends.js';
import type { Store } from '../store/store.js';
import type { ArchiveAddress } from './address.js';
import { ArchiveContents, type ContentsProgress, type LayerTally } from './contents.js';
import { startsLikeImageArchive } from '../oci/archive-shape.js';
import { absentLayers, omittedLayers } from './omitted-layers.js';
import { deltaLayers, type DeltaEntry } from './delta-annotation.js';
import { rebuildLayer } from './delta-layers.js';
import { ArchiveSource } from './archive-source.js';
import { dockerArchiveImages, dockerManifestName, namesByConfig, readDockerManifest, selectByRef } from './docker-archive.js';
import { ociImages, type ArchiveImage } from './oci-layout.js';
import { blobMemberName } from '../oci/layout.js';
import type { BeforeNames } from '../store/staged.js';
import { ociDirMembers, tarMembers, type SourceMember } from './archive-members.js';
import { openFileStream } from '../io/input.js';
import { isPartSet, openPartSet, type ManifestGate, type RepairEvents } from '../split/index.js';

/** A load: the move's options (engine/copy.ts MoveOptions; beforeNames is not run for a part set its gate vouches for), and how the archive is read. */
export interface LoadOptions extends MoveOptions {
  /** The name to give the one image loaded, instead of the archive's names (load --tag). */
  tag?: ImageReference;
  /** The archive when the address is `-` (stdin, or a stream another reader assembles), and its name in messages. */
  stdin?: { input: Readable; name: string };
  /** How a part set given as the archive is read: its manifest's gate, and what repairing it tells. */
  partSet?: PartSetReading;
  onProgress?: (progress: LoadProgress) => void;
}

/**
 * A directory of parts from `rootfs split` is read as the archive it was cut
 * from, each part verified (and rebuilt from its parity) as it streams. Its
 * manifest is read through gate: a signature check, which with `vouches`
 * stands for every byte of the archive so that beforeNames does not run, or
 * a note that a signature beside it was not checked.
 */
export interface PartSetReading {
  gate?: ManifestGate;
  vouches?: boolean;
  events?: RepairEvents;
}

/** Bytes read so far, and what they add up to when known: the file's or part set's size (the blobs' sum, near enough). */
export type LoadProgress = ContentsProgress & { total?: number };

export interface LoadResult {
  images: MovedImage[];
  /** Layers a delta archive left out, found and checked in the store. */
  fromStore: LayerTally;
  /** Layers a delta archive carried as deltas, rebuilt from the store to their exact bytes. */
  rebuilt: LayerTally;
  /** Referrers recorded with the images (store.addReferrer). */
  referrers: number;
}

export async function loadArchive(store: Store, address: ArchiveAddress, options: LoadOptions = {}): Promise<LoadResult> {
  const staged = await stageArchive(store, address, options);
  // The copies of every image go into what the one pass staged, and name them all at once at the end.
  const destination = new StoreDestination(store, staged.contents.staging);
  try {
    const loaded: MovedImage[] = [];
    let referrers = 0;
    for (const image of staged.images) {
      const copied = await copyImage(staged.source, image.top, destination, archiveCopyOptions(staged, image, image.tags, options));
      loaded.push(copied);
      referrers += copied.referrers;
    }
    await destination.commitTogether();
    return { images: loaded, fromStore: staged.contents.fromStore, rebuilt: staged.contents.rebuilt, referrers };
  } catch (err) {
    await destination.abort();
    throw err;
  }
}

/** An archive read in its one pass and staged in a store: the one copy's source, and the images it holds with the names they take. */
export interface StagedArchive {
  contents: ArchiveContents;
  source: ArchiveSource;
  images: ArchiveImage[];
  /** The policy before any name, unless a signed part set vouches for every byte. */
  beforeNames: BeforeNames | undefined;
}

/**
 * Reads an archive once into store's staging (a stream can be read by
 * digest only after its end), takes the layers a delta archive left out or
 * carried as deltas from store, and lists its images with their names
 * (every name checked before any is given). A failure leaves nothing staged.
 */
export async function stageArchive(store: Store, address: ArchiveAddress, options: LoadOptions): Promise<StagedArchive> {
  const { members, archive, directory, size, partSet } = await openSource(address, options.stdin, options.partSet);
  if (directory && options.tag !== undefined) await refuseSeveralImages(address.path, address.ref);
  const onProgress = options.onProgress;
  const contents = new ArchiveContents(store, archive, onProgress && ((progress) => onProgress({ ...progress, ...(size !== undefined ? { total: size } : {}) })));
  await contents.readAll(members);
  try {
    const source = new ArchiveSource(contents, await takeAbsentLayers(contents, store));
    let images = archiveImages(contents, source, address, directory, options.platform);
    if (options.tag !== undefined) images = renamed(images, options.tag, contents.archive);
    // Every name is known good before the first blob takes its name: a bad one found while tagging would leave blobs behind.
    for (const tag of images.flatMap((image) => image.tags)) {
      if (!isTagReference(tag)) throw new InvalidInputError(contents.archive, `${familiarName(tag)} is not a name:tag`);
    }
    return { contents, source, images, beforeNames: partSet && options.partSet?.vouches ? undefined : options.beforeNames };
  } catch (err) {
    await contents.staging.abort();
    throw err;
  }
}

/** What the one copy of a staged archive's image is asked, wherever it goes (tags: the names it takes there): the move's options, with the archive's policy hook. */
export function archiveCopyOptions(staged: StagedArchive, image: ArchiveImage, tags: ImageReference[], options: MoveOptions): CopyImageOptions {
  const { beforeNames: _asked, ...move } = options;
  const { beforeNames } = staged;
  const what = `copy ${image.name} from ${staged.contents.archive}`;
  return { ...move, name: image.name, what, tags, ...(beforeNames ? { beforeNames: image.classic ? withoutManifest(beforeNames) : beforeNames } : {}) };
}

/**
 * A delta archive leaves out layers this store holds, or carries them as
 * deltas against such layers: read from the store, or rebuilt from it, and
 * staged like members. Returns the layers index.json says were left out.
 */
async function takeAbsentLayers(contents: ArchiveContents, store: Store): Promise<Set<Digest>> {
  const index = contents.has('index.json') ? parseIndex(contents.json('index.json', 'index.json').value, contents.where('index.json')) : undefined;
  const deltas = index ? deltaLayers(index, contents.where('index.json')) : new Map<Digest, DeltaEntry>();
  const spool = store.spool('delta');
  try {
    for (const digest of absentLayers(contents)) {
      const entry = deltas.get(digest);
      if (entry) await rebuildLayer(contents, store, entry, spool);
      else await contents.addFromStore(digest);
    }
  } finally {
    await spool.remove();
  }
  return index ? omittedLayers(index, contents.where('index.json')) : new Set();
}

/** A classic archive's image has no manifest of its own, so nothing could sign it: a policy is told so. */
function withoutManifest(beforeNames: BeforeNames): BeforeNames {
  return (staged) => beforeNames({ ...staged, manifestsMadeHere: true });
}

/** A layer an archive's manifests name, and how the archive carries it. */
export interface CarriedLayer {
  digest: Digest;
  size: number;
  /** whole: its bytes are a member; delta: rebuilt from a layer the store must hold; absent: left out, the store must hold it. */
  carried: 'whole' | 'delta' | 'absent';
  delta?: DeltaEntry;
}

/**
 * load --dry-run: what the archive carries, read once and nothing stored:
 * each layer its manifests name (any JSON member with a `layers` list, as
 * absentLayers reads them), whole, as a delta against which layer, or left out.
 */
export async function describeArchive(address: ArchiveAddress, stream: LoadOptions['stdin'], partSet?: PartSetReading): Promise<CarriedLayer[]> {
  const { members, archive } = await openSource(address, stream, partSet);
  const sizes = new Map<string, number>();
  const layers = new Map<Digest, number>();
  let index: Index | undefined;
  for await (const member of members) {
    sizes.set(member.name, member.size);
    const small = member.type === 'file' && member.size <= documentCaps.image && (member.name === 'index.json' || member.name.startsWith('blobs/'));
    if (!small) {
      member.body.resume();
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of member.body) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!/^\s*\{/.test(text)) continue;
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      continue; // not a document; load reports it if anything refers to it
    }
    if (member.name === 'index.json') index = parseIndex(document, `${archive}: index.json`);
    const listed = (document as { layers?: unknown }).layers;
    if (Array.isArray(listed)) for (const layer of listed as Array<{ digest?: unknown; size?: unknown } | null>) if (isDigest(layer?.digest) && typeof layer.size === 'number') layers.set(layer.digest, layer.size);
  }
  const deltas = index ? deltaLayers(index, `${archive}: index.json`) : new Map<Digest, DeltaEntry>();
  return [...layers].map(([digest, size]): CarriedLayer => {
    const delta = deltas.get(digest);
    if (sizes.has(blobMemberName(digest))) return { digest, size, carried: 'whole' };
    return delta ? { digest, size, carried: 'delta', delta } : { digest, size, carried: 'absent' };
  });
}

/** The archive's members, its name in messages, whether it is a layout directory or a part set, and its size when known. */
async function openSource(address: ArchiveAddress, stream: LoadOptions['stdin'], partSet: PartSetReading | undefined): Promise<{ members: AsyncIterable<SourceMember>; archive: string; directory: boolean; partSet: boolean; size?: number }> {
  if (address.path === '-') {
    if (address.format === 'oci') throw new UsageError('an oci layout is a directory; it cannot come from a stream');
    if (!stream) throw new UsageError('no archive on stdin');
    return { members: imageArchiveMembers(tarMembers(stream.input, stream.name), stream.name), archive: stream.name, directory: false, partSet: false };
  }
  let info: Stats;
  try {
    info = await stat(address.path);
  } catch (err) {
    throw fromFsError(err, address.path);
  }
  if (info.isDirectory()) {
    if (address.format !== 'oci' && (await isPartSet(address.path))) {
      const set = await openPartSet(address.path, partSet?.gate, partSet?.events);
      return { members: imageArchiveMembers(tarMembers(set.stream, address.path), address.path), archive: address.path, directory: false, partSet: true, ...(set.size !== undefined ? { size: set.size } : {}) };
    }
    if (address.format !== undefined && address.format !== 'oci') throw new UsageError(`${address.path} is a directory, not a ${address.format} file`);
    return { members: ociDirMembers(address.path), archive: address.path, directory: true, partSet: false };
  }
  if (address.format === 'oci') throw new UsageError(`${address.path} is not a directory (oci: names an OCI layout directory; use oci-archive: for a tar)`);
  return { members: imageArchiveMembers(tarMembers(openFileStream(address.path, !info.isFile()), address.path), address.path), archive: address.path, directory: false, partSet: false, ...(info.isFile() ? { size: info.size } : {}) };
}

/** The members of a tar, refused at the first one if the tar is a root filesystem, not an image archive. */
async function* imageArchiveMembers(members: AsyncIterable<SourceMember>, archive: string): AsyncGenerator<SourceMember> {
  let first = true;
  for await (const member of members) {
    if (first && !startsLikeImageArchive(member.name)) {
      throw new InvalidInputError(archive, `not an image archive: it starts with '${member.name}', not manifest.json, index.json, oci-layout or blobs/. ${importHint(archive)}`);
    }
    first = false;
    yield member;
  }
}

/** What to do with a filesystem tarball given to load. */
function importHint(archive: string): string {
  return `A filesystem tarball becomes an image with: rootfs import ${archive === 'stdin' ? '-' : archive} [REF]`;
}

/**
 * The OCI layout wins when there is one (a Docker 25+ archive has both): its
 * manifests are kept byte for byte. manifest.json then only lends its
 * RepoTags to entries that carry no full name.
 */
function archiveImages(contents: ArchiveContents, source: ArchiveSource, address: ArchiveAddress, directory: boolean, platform: Platform | undefined): ArchiveImage[] {
  const hasLayout = contents.has('index.json');
  const hasDocker = contents.has(dockerManifestName);
  const dockerRef = address.format === 'docker-archive' || address.format === 'docker-legacy';
  if (address.format === 'oci-archive' || directory) {
    if (!hasLayout) throw new InvalidInputError(contents.where('index.json'), 'missing: not an OCI image layout');
    return ociImages(contents, { ref: address.ref, ...bareTags(address) });
  }
  if (hasLayout) {
    const docker = hasDocker ? readDockerManifest(contents) : [];
    const images = ociImages(contents, { ref: dockerRef ? undefined : address.ref, namesByConfig: namesByConfig(contents, docker), ...bareTags(address) });
    if (!dockerRef || address.ref === undefined) return images;
    // docker-archive:PATH:name:tag against a Docker 25+ archive: select among the RepoTags, as on a classic one.
    return selectByRef(images, (image) => image.tags, address.ref, contents.archive).map(({ image, tags }) => ({ ...image, tags }));
  }
  if (hasDocker) return dockerArchiveImages(contents, source, address.ref, platform);
  throw new InvalidInputError(contents.archive, `neither index.json nor manifest.json: not an image archive (docker save, OCI archive or layout). ${importHint(contents.archive)}`);
}

/** A layout's bare ref.names ("deb") are tags of localhost/NAME, NAME the layout's file or directory name (not known for stdin). */
function bareTags(address: ArchiveAddress): { bareTagRepository?: ImageReference } {
  if (address.path === '-') return {};
  const repository = localRepository(basename(resolve(address.path)));
  return repository ? { bareTagRepository: repository } : {};
}

/** load --tag: one image, named as the user says instead of as the archive does. */
function renamed(images: ArchiveImage[], tag: ImageReference, archive: string): ArchiveImage[] {
  if (images.length !== 1) throw severalImages(archive, images.length);
  return [{ ...images[0]!, tags: [tag] }];
}

function severalImages(archive: string, count: number): UsageError {
  return new UsageError(`--tag names one image, but ${archive} holds ${count}; choose one with FORMAT:PATH:REF (oci:DIR:REF, docker-archive:FILE:NAME:TAG)`);
}

/**
 * A layout directory whose index.json lists several images (those of ref,
 * when given) cannot take one name: refused from index.json and its entries'
 * manifests, before the blobs are read and staged, which for 10,000 images
 * takes minutes. Entries that are referrers (an artifactType, or a manifest
 * with a subject) are not images. What cannot be read here is left for the
 * full read to report.
 */
async function refuseSeveralImages(dir: string, ref: string | undefined): Promise<void> {
  let index: Index;
  try {
    index = parseIndex(parseJson((await readMetadata(join(dir, 'index.json'), 'layoutIndex', 'an image index')).toString('utf8'), 'index.json'), 'index.json');
  } catch {
    return;
  }
  let images = 0;
  for (const entry of index.manifests) {
    if (ref !== undefined && entry.annotations?.[Annotation.RefName] !== ref) continue;
    if (entry.artifactType === undefined && !(await hasSubject(dir, entry))) images++;
  }
  if (images > 1) throw severalImages(dir, images);
}

async function hasSubject(dir: string, entry: Descriptor): Promise<boolean> {
  try {
    return namesSubject(parseJson((await readMetadata(join(dir, blobMemberName(entry.digest)), 'image')).toString('utf8'), entry.digest));
  } catch {
    return false;
  }
}
