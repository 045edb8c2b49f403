/**
 * The OCI image layout (oci-layout, index.json, blobs/sha256/<hex>), as a
 * directory (`oci:`), as a tar (`oci-archive:`), and as the half of a Docker
 * 25+ `docker save` archive that carries the manifests: which images its
 * index.json lists, and the names they take. The images themselves are read
 * by the one copy (archive-source.ts), which keeps manifests and indexes
 * byte for byte, so every digest survives a load.
 */
import { InvalidInputError, NotFoundError, UsageError } from '../errors.js';
import { familiarName, isTag, parseReference, type ImageReference } from '../oci/reference.js';
import { Annotation, isManifestMediaType, type Descriptor, type Digest, type Index } from '../oci/types.js';
import { checkDescriptor, parseIndex, parseManifest, parseOciLayout } from '../oci/validate.js';
import type { ArchiveContents } from './contents.js';
import { subjectOf } from './archive-source.js';

/** An image an archive holds, as the copy takes it: its top manifest or index, and the names it gets. */
export interface ArchiveImage {
  top: Descriptor;
  tags: ImageReference[];
  /** How messages name it before it has a name: its name, ref.name or digest. */
  name: string;
  /** A classic docker-archive image, whose manifest was made here: nothing in the archive can refer to it. */
  classic?: boolean;
}

export interface OciReadOptions {
  /** Only the index.json entries whose ref.name is this (skopeo's oci:DIR:REF). */
  ref?: string;
  /** Names for entries without a usable name annotation, by config digest (manifest.json RepoTags in a Docker 25+ archive). */
  namesByConfig?: Map<Digest, ImageReference[]>;
  /**
   * The repository a bare ref.name (a tag alone: umoci's and skopeo's
   * `oci:DIR:deb`) is a tag of: `localhost/DIR` for a layout named DIR.
   * Without one such entries load untagged.
   */
  bareTagRepository?: ImageReference;
}

/** The images index.json lists (its referrers are not images: they go with their subjects), each with its names. */
export function ociImages(contents: ArchiveContents, options: OciReadOptions = {}): ArchiveImage[] {
  if (!contents.has('oci-layout')) throw new InvalidInputError(contents.where('index.json'), 'no oci-layout member beside it: not an OCI image layout');
  parseOciLayout(contents.bytes('oci-layout', 'oci-layout').toString('utf8'), contents.where('oci-layout'));
  const { value } = contents.json<unknown>('index.json', 'index.json');
  const index = parseIndex(value, contents.where('index.json'));
  refuseSharedNames(index, contents.where('index.json'));
  const images: ArchiveImage[] = [];
  index.manifests.forEach((entry, at) => {
    if (subjectOf(contents, entry) !== undefined) return;
    if (options.ref !== undefined && entry.annotations?.[Annotation.RefName] !== options.ref) return;
    const where = contents.where(`index.json: manifests[${at}]`);
    checkDescriptor(entry, where);
    const named = entryNames(entry, where);
    const configNames = options.namesByConfig && isManifestMediaType(entry.mediaType) ? options.namesByConfig.get(configOf(contents, entry)) : undefined;
    const tags = named.length > 0 ? named : (configNames ?? bareTagName(entry, options.bareTagRepository));
    images.push({ top: bareDescriptor(entry), tags, name: named[0] ? familiarName(named[0]) : (entry.annotations?.[Annotation.RefName] ?? entry.digest) });
  });
  if (images.length === 0) {
    throw new NotFoundError(options.ref === undefined ? `${contents.where('index.json')}: no images in the index` : `${contents.archive}: no image named ${JSON.stringify(options.ref)} in index.json`);
  }
  return images;
}

/** The config digest of a manifest entry, for the names manifest.json gives it; a manifest that cannot be read is the copy's to report. */
function configOf(contents: ArchiveContents, entry: Descriptor): Digest {
  const member = contents.blobByDigest(entry.digest);
  if (!member?.looksLikeJson) return entry.digest;
  try {
    return parseManifest(contents.json<unknown>(member.name, member.name).value, member.name).config.digest;
  } catch {
    return entry.digest;
  }
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

/** The names an index.json entry carries: the containerd full name, or a ref.name that is a whole name:tag (ours, skopeo's). */
function entryNames(entry: Descriptor, where: string): ImageReference[] {
  const full = entry.annotations?.[Annotation.ContainerdImageName];
  const refName = entry.annotations?.[Annotation.RefName];
  // A bare ref.name ("latest", as docker and containerd write beside the full name) is a tag without a repository.
  const text = full ?? (refName !== undefined && /[:/]/.test(refName) ? refName : undefined);
  if (text === undefined) return [];
  try {
    const ref = parseReference(text);
    return ref.tag === undefined ? [] : [ref];
  } catch (err) {
    if (err instanceof UsageError) throw new InvalidInputError(where, err.message);
    throw err;
  }
}

/** A ref.name that is a tag alone ("deb", "1.0"), as a tag of repository. */
function bareTagName(entry: Descriptor, repository: ImageReference | undefined): ImageReference[] {
  const refName = entry.annotations?.[Annotation.RefName];
  if (repository === undefined || refName === undefined || !isTag(refName)) return [];
  return [{ registry: repository.registry, repository: repository.repository, tag: refName }];
}

/** A descriptor without the archive's naming annotations: the store adds its own when it tags. */
function bareDescriptor(entry: Descriptor): Descriptor {
  const { annotations, ...rest } = entry;
  const kept = Object.entries(annotations ?? {}).filter(([key]) => key !== Annotation.RefName && key !== Annotation.ContainerdImageName);
  return kept.length > 0 ? { ...rest, annotations: Object.fromEntries(kept) } : rest;
}
