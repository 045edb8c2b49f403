/**
 * The OCI image layout (oci-layout, index.json, blobs/sha256/<hex>), as a
 * directory (`oci:`), as a tar (`oci-archive:`), and as the half of a Docker
 * 25+ `docker save` archive that carries the manifests. Reading keeps
 * manifests and indexes byte for byte, so every digest survives a load.
 */
import { InvalidInputError, NotFoundError, UsageError } from '../errors.js';
import { blobMemberName } from '../oci/layout.js';
import { walkImage, type GraphNode, type WalkOptions } from '../oci/walk.js';
import { choosePlatform } from '../oci/platform.js';
import { familiarName, isTag, parseReference, type ImageReference } from '../oci/reference.js';
import { Annotation, isIndexMediaType, isManifestMediaType, type Descriptor, type Digest, type Index, type Manifest, type Platform } from '../oci/types.js';
import { checkDescriptor, namesSubject, parseIndex, parseManifest, parseOciLayout } from '../oci/validate.js';
import type { ArchiveContents } from './contents.js';
import { omittedLayers } from './omitted-layers.js';
import { checkLayerMember, checkLayers, parseConfig, type LoadableImage } from './archive-image.js';


export interface OciReadOptions {
  /** Only the index.json entries whose ref.name is this (skopeo's oci:DIR:REF). */
  ref?: string;
  /** Narrow each multi-platform index to this platform's manifest. */
  platform?: Platform;
  /** Names for entries without a usable name annotation, by config digest (manifest.json RepoTags in a Docker 25+ archive). */
  namesByConfig?: Map<Digest, ImageReference[]>;
  /**
   * The repository a bare ref.name (a tag alone: umoci's and skopeo's
   * `oci:DIR:deb`) is a tag of: `localhost/DIR` for a layout named DIR.
   * Without one such entries load untagged.
   */
  bareTagRepository?: ImageReference;
  /** A layer whose media type its bytes contradict, read as the bytes say (oci/layer-media.ts). */
  onNotice?: (message: string) => void;
}

export async function readOciLayout(contents: ArchiveContents, options: OciReadOptions = {}): Promise<LoadableImage[]> {
  if (!contents.has('oci-layout')) throw new InvalidInputError(contents.where('index.json'), 'no oci-layout member beside it: not an OCI image layout');
  parseOciLayout(contents.bytes('oci-layout', 'oci-layout').toString('utf8'), contents.where('oci-layout'));
  const { value } = contents.json<unknown>('index.json', 'index.json');
  const index = parseIndex(value, contents.where('index.json'));
  const images = index.manifests.filter((entry) => !isReferrerEntry(contents, entry));
  refuseSharedNames(index, contents.where('index.json'));
  const entries = options.ref === undefined ? images : images.filter((entry) => entry.annotations?.[Annotation.RefName] === options.ref);
  if (entries.length === 0) {
    throw new NotFoundError(options.ref === undefined ? `${contents.where('index.json')}: no images in the index` : `${contents.archive}: no image named ${JSON.stringify(options.ref)} in index.json`);
  }
  const omitted = omittedLayers(index, contents.where('index.json'));
  const positions = new Map(index.manifests.map((entry, at) => [entry, at]));
  const loadable: LoadableImage[] = [];
  for (const entry of entries) {
    const where = `index.json: manifests[${positions.get(entry)}]`;
    const named = entryNames(contents, entry, where);
    const image = named[0] ? familiarName(named[0]) : (entry.annotations?.[Annotation.RefName] ?? entry.digest);
    const checked = await checkEntry({ contents, platform: options.platform, omitted, image, onNotice: options.onNotice }, entry, where);
    const tags = named.length > 0 ? named : (options.namesByConfig?.get(checked.imageId) ?? bareTagName(entry, options.bareTagRepository));
    loadable.push({ kind: 'descriptor', descriptor: checked.descriptor, imageId: checked.imageId, blobs: checked.blobs, tags });
  }
  return loadable;
}

/**
 * Two images under one name: which one a name means would be a guess (the
 * first, the last), so neither is taken. The name is the full one where an
 * entry has it (Docker 25+ writes the bare tag as ref.name: app:1 and db:1
 * both carry "1"), else the ref.name.
 */
function refuseSharedNames(index: Index, where: string): void {
  const named = new Map<string, { at: number; digest: Digest }>();
  index.manifests.forEach((entry, at) => {
    const name = entry.annotations?.[Annotation.ContainerdImageName] ?? entry.annotations?.[Annotation.RefName];
    if (name === undefined) return;
    const first = named.get(name);
    if (first === undefined) named.set(name, { at, digest: entry.digest });
    else if (first.digest !== entry.digest) throw new InvalidInputError(where, `manifests[${first.at}] and manifests[${at}] are two images both named ${JSON.stringify(name)}; a name must mean one image`);
  });
}

/** A referrer in an archive: an index.json entry whose manifest names a subject, verified with every blob under it. */
export interface LoadableReferrer {
  subject: Digest;
  /** Its index.json entry without naming annotations, with its artifactType. */
  descriptor: Descriptor;
  blobs: Digest[];
}

/**
 * The referrers an OCI layout lists (signatures, SBOMs, attestations: how
 * oras, skopeo and our save list them, as untagged entries), each checked
 * like an image's documents: every blob present, of its descriptor's size
 * and digest. Their layers are not image layers and are not read as tars.
 */
export async function readOciReferrers(contents: ArchiveContents): Promise<LoadableReferrer[]> {
  const index = parseIndex(contents.json<unknown>('index.json', 'index.json').value, contents.where('index.json'));
  const out: LoadableReferrer[] = [];
  for (const [i, entry] of index.manifests.entries()) {
    if (!isReferrerEntry(contents, entry)) continue;
    const where = `index.json: manifests[${i}]`;
    checkDescriptor(entry, contents.where(where));
    const { subject, artifactType, blobs } = await checkReferrer(contents, entry, where);
    const descriptor = bareDescriptor(entry);
    const type = descriptor.artifactType ?? artifactType;
    out.push({ subject, descriptor: type === undefined ? descriptor : { ...descriptor, artifactType: type }, blobs });
  }
  return out;
}

/** A referrer's documents by the one walk (oci/walk.ts): an index's children the archive holds, each manifest's blobs present with their sizes. */
async function checkReferrer(contents: ArchiveContents, descriptor: Descriptor, where: string): Promise<{ subject: Digest; artifactType: string | undefined; blobs: Digest[] }> {
  const named = new Map<Digest, string>([[descriptor.digest, where]]);
  const walk = walkImage([descriptor], {
    ...archiveReads(contents, named),
    children: (node, all) => (node.document?.kind === 'index' ? followed(contents, named, node, all, (child) => contents.has(blobMemberName(child.digest))) : []),
  });
  const blobs: Digest[] = [];
  let root: { subject: Digest; artifactType: string | undefined } | undefined;
  for await (const { descriptor: node, document, depth } of walk) {
    blobs.push(node.digest);
    const name = blobMemberName(node.digest);
    let subject: Descriptor | undefined;
    let artifactType: string | undefined;
    if (document?.kind === 'index') {
      ({ subject, artifactType } = document.index);
      if (subject !== undefined) checkDescriptor(subject, contents.where(`${name}: subject`));
    } else if (document?.kind === 'manifest') {
      const { manifest } = document;
      [manifest.config, ...manifest.layers].forEach((blob, i) => {
        checkedBlob(contents, blob, i === 0 ? `${name}: config` : `${name}: layers[${i - 1}]`);
        blobs.push(blob.digest);
      });
      ({ subject } = manifest);
      artifactType = manifest.artifactType ?? manifest.config.mediaType;
    }
    if (depth === 0) root = { subject: subject?.digest as Digest, artifactType };
  }
  return { ...root!, blobs };
}

/** The children of an index that keep says to follow, each checked as a descriptor and named in messages by its place in the index. */
function followed(contents: ArchiveContents, named: Map<Digest, string>, node: GraphNode, all: Descriptor[], keep: (child: Descriptor) => boolean): Descriptor[] {
  const name = blobMemberName(node.descriptor.digest);
  return all.filter((child, i) => {
    const childWhere = `${name}: manifests[${i}]`;
    checkDescriptor(child, contents.where(childWhere));
    if (!keep(child)) return false;
    named.set(child.digest, childWhere);
    return true;
  });
}

/** How a walk reads an archive's documents: each from its member, checked present with its descriptor's size, named in messages by where its parent lists it (named). */
function archiveReads(contents: ArchiveContents, named: Map<Digest, string>): Pick<WalkOptions, 'read' | 'where'> {
  return {
    read: async (descriptor) => contents.bytes(checkedBlob(contents, descriptor, named.get(descriptor.digest)!), named.get(descriptor.digest)!),
    where: (descriptor) => contents.where(blobMemberName(descriptor.digest)),
  };
}

/**
 * Whether an index.json entry is a referrer: a manifest or index in the
 * archive that names a subject. One that cannot be read is left to the
 * image checks, which report it.
 */
function isReferrerEntry(contents: ArchiveContents, entry: Descriptor): boolean {
  if (!isManifestMediaType(entry?.mediaType) && !isIndexMediaType(entry?.mediaType)) return false;
  let name: string;
  try {
    name = blobMemberName(entry.digest);
  } catch {
    return false;
  }
  if (!contents.has(name)) return false;
  try {
    return namesSubject(contents.json<unknown>(name, name).value);
  } catch {
    return false;
  }
}

/** The names an index.json entry carries: the containerd full name, or a ref.name that is a whole name:tag (ours, skopeo's). */
function entryNames(contents: ArchiveContents, entry: Descriptor, where: string): ImageReference[] {
  const full = entry.annotations?.[Annotation.ContainerdImageName];
  const refName = entry.annotations?.[Annotation.RefName];
  // A bare ref.name ("latest", as docker and containerd write beside the full name) is a tag without a repository.
  const text = full ?? (refName !== undefined && /[:/]/.test(refName) ? refName : undefined);
  if (text === undefined) return [];
  try {
    const ref = parseReference(text);
    return ref.tag === undefined ? [] : [ref];
  } catch (err) {
    if (err instanceof UsageError) throw new InvalidInputError(contents.where(where), err.message);
    throw err;
  }
}

/** A ref.name that is a tag alone ("deb", "1.0"), as a tag of repository. */
function bareTagName(entry: Descriptor, repository: ImageReference | undefined): ImageReference[] {
  const refName = entry.annotations?.[Annotation.RefName];
  if (repository === undefined || refName === undefined || !isTag(refName)) return [];
  return [{ registry: repository.registry, repository: repository.repository, tag: refName }];
}

/** What a walk down one index.json entry knows. */
interface Walk {
  contents: ArchiveContents;
  platform: Platform | undefined;
  /** Layers the archive says it left out on purpose (a delta archive): they must be found, in it or in the store. */
  omitted: Set<Digest>;
  /** The entry's name, for messages about the image as a whole. */
  image: string;
  onNotice: OciReadOptions['onNotice'];
}

interface CheckedEntry {
  descriptor: Descriptor;
  imageId: Digest;
  blobs: Digest[];
}

/**
 * Verifies a manifest or index and everything below it, by the one walk
 * (oci/walk.ts, nested indexes to maxIndexDepth); with a platform, an index
 * is replaced by its matching manifest, chosen at each level.
 */
async function checkEntry(walk: Walk, entry: Descriptor, where: string): Promise<CheckedEntry> {
  const { contents, platform } = walk;
  checkDescriptor(entry, contents.where(where));
  const named = new Map<Digest, string>([[entry.digest, where]]);
  const graph = walkImage([entry], {
    ...archiveReads(contents, named),
    children(node, all) {
      if (node.document?.kind !== 'index') return [];
      const name = blobMemberName(node.descriptor.digest);
      const { index } = node.document;
      if (index.mediaType !== undefined && index.mediaType !== node.descriptor.mediaType) {
        throw new InvalidInputError(contents.where(name), `media type ${index.mediaType} does not match its descriptor's ${node.descriptor.mediaType}`);
      }
      if (platform) {
        const usable = all.filter((child) => isManifestMediaType(child.mediaType) || isIndexMediaType(child.mediaType));
        const chosen = choosePlatform(usable, platform, (child) => child.platform, contents.where(name));
        checkDescriptor(chosen, contents.where(name));
        named.set(chosen.digest, name);
        return [chosen];
      }
      // Kept as an index. A multi-platform save often carries one platform's blobs only: absent children are
      // allowed (the layout spec lets referenced blobs be missing), present ones must be right.
      const present = followed(contents, named, node, all, (child) => isPresent(walk, child));
      if (present.length === 0) throw new InvalidInputError(contents.where(name), 'none of the manifests in this index is in the archive');
      return present;
    },
  });
  const blobs: Digest[] = [];
  let chosen: CheckedEntry | undefined;
  for await (const { descriptor, document } of graph) {
    const at = named.get(descriptor.digest)!;
    if (document?.kind === 'index') {
      blobs.push(descriptor.digest);
      continue;
    }
    if (!isManifestMediaType(descriptor.mediaType)) throw new InvalidInputError(contents.where(at), `unsupported media type ${JSON.stringify(descriptor.mediaType)} (not an image manifest or index)`);
    chosen = checkManifest(walk, bareDescriptor(descriptor), at, descriptor.annotations?.[attestationAnnotation] === 'attestation-manifest');
    blobs.push(...chosen.blobs);
  }
  // With a platform the image is the one manifest reached; else the entry itself, all it holds.
  if (platform || isManifestMediaType(entry.mediaType)) return chosen!;
  return { descriptor: bareDescriptor(entry), imageId: entry.digest, blobs };
}

/**
 * BuildKit puts provenance/SBOM manifests beside the platforms of an index
 * (platform unknown/unknown); their "layers" are in-toto JSON, not tars, and
 * travel as they are.
 */
const attestationAnnotation = 'vnd.docker.reference.type';

/**
 * Whether an index child is in the archive: its blob, and for a manifest its
 * config and layers (containerd keeps every platform's manifest but pulls
 * one platform's layers). A malformed manifest counts as present, so that
 * the full check reports it; so do layers a delta archive left out on purpose.
 */
function isPresent({ contents, omitted }: Walk, child: Descriptor): boolean {
  const name = blobMemberName(child.digest);
  if (!contents.has(name)) return false;
  if (!isManifestMediaType(child.mediaType)) return true;
  let manifest: Manifest;
  try {
    manifest = parseManifest(contents.json<unknown>(name, name).value, name);
  } catch {
    return true;
  }
  return [manifest.config, ...manifest.layers].every((blob) => contents.has(blobMemberName(blob.digest)) || omitted.has(blob.digest));
}

function checkManifest({ contents, image, onNotice }: Walk, descriptor: Descriptor, where: string, attestation: boolean): CheckedEntry {
  const name = checkedBlob(contents, descriptor, where);
  const manifest = parseManifest(contents.json<unknown>(name, where).value, contents.where(name));
  if (manifest.mediaType !== undefined && manifest.mediaType !== descriptor.mediaType) {
    throw new InvalidInputError(contents.where(name), `media type ${manifest.mediaType} does not match its descriptor's ${descriptor.mediaType}`);
  }
  const configName = checkedBlob(contents, manifest.config, `${name}: config`);
  const { config } = parseConfig(contents, configName, name);
  // Never accepted silently: a layer neither carried nor held here (a delta archive loaded on the wrong host).
  const missing = manifest.layers.filter((layer) => !contents.has(blobMemberName(layer.digest))).map((layer) => layer.digest);
  if (missing.length > 0) {
    throw new InvalidInputError(contents.where(name), `image ${image}: ${missing.length === 1 ? 'layer' : `${missing.length} layers`} neither in the archive nor in this store: ${missing.join(', ')}`);
  }
  const layerNames = manifest.layers.map((layer, i) => ({ name: checkedBlob(contents, layer, `${name}: layers[${i}]`), referrer: name }));
  const blobs = checkLayers(contents, config, configName, layerNames);
  if (!attestation) blobs.forEach((blob, i) => checkLayerMember(contents, manifest.layers[i]!, blob, onNotice));
  return { descriptor, imageId: manifest.config.digest, blobs: [descriptor.digest, manifest.config.digest, ...blobs.map((blob) => blob.digest)] };
}

/** The member holding a descriptor's blob, checked to exist with the descriptor's size. Its digest was checked as it streamed. */
function checkedBlob(contents: ArchiveContents, descriptor: Descriptor, where: string): string {
  const name = blobMemberName(descriptor.digest);
  const blob = contents.blob(name, where);
  if (blob.size !== descriptor.size) throw new InvalidInputError(contents.where(name), `size ${blob.size} does not match the size ${descriptor.size} in ${where}`);
  return name;
}

/** A descriptor without the archive's naming annotations: the store adds its own when it tags. */
function bareDescriptor(entry: Descriptor): Descriptor {
  const { annotations, ...rest } = entry;
  const kept = Object.entries(annotations ?? {}).filter(([key]) => key !== Annotation.RefName && key !== Annotation.ContainerdImageName);
  return kept.length > 0 ? { ...rest, annotations: Object.fromEntries(kept) } : rest;
}
