/**
 * What `docker save` writes: manifest.json (`[{Config, RepoTags, Layers}]`,
 * paths inside the archive) over either the classic layout (`<id>/layer.tar`,
 * `<hex>.json`, repositories) or, since Docker 25, an OCI layout in the same
 * tar. Reading takes both; the paths in manifest.json are what count, and
 * classic archives dedupe layers with symlinks, which resolve inside the archive.
 */
import { InvalidInputError, NotFoundError, UsageError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { imageManifest } from '../image/commit.js';
import { familiarName, isTagReference, parseReference, sameReference, type ImageReference } from '../oci/reference.js';
import { choosePlatform, platformMatches } from '../oci/platform.js';
import { ociLayerMediaType, type Descriptor, type Digest, type ImageConfig, type Platform } from '../oci/types.js';
import { parseImageConfig } from '../oci/validate.js';
import type { ArchiveSource } from './archive-source.js';
import type { ArchiveContents } from './contents.js';
import type { ArchiveImage } from './oci-layout.js';

export const dockerManifestName = 'manifest.json';

/** One element of manifest.json. */
export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  Parent?: string;
  LayerSources?: Record<string, Descriptor>;
}

/** Parses manifest.json, checking the shape of every entry. */
export function readDockerManifest(contents: ArchiveContents): DockerManifestEntry[] {
  const where = contents.where(dockerManifestName);
  const { value } = contents.json<unknown>(dockerManifestName, dockerManifestName);
  if (!Array.isArray(value)) throw new InvalidInputError(where, 'not a docker save manifest (expected an array)');
  return value.map((item: unknown, i) => {
    const entry = item as Partial<DockerManifestEntry> | null;
    const bad = (detail: string): InvalidInputError => new InvalidInputError(where, `entry ${i}: ${detail}`);
    if (typeof entry !== 'object' || entry === null) throw bad('not an object');
    if (typeof entry.Config !== 'string') throw bad('no Config path');
    if (!Array.isArray(entry.Layers) || entry.Layers.some((layer) => typeof layer !== 'string')) throw bad('Layers is not a list of paths');
    const tags = entry.RepoTags ?? null;
    if (tags !== null && (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string'))) throw bad('RepoTags is not a list of names');
    return { ...entry, Config: entry.Config, Layers: entry.Layers, RepoTags: tags };
  });
}

/** RepoTags as references; a bad name is the archive's fault, not the user's. */
export function repoTags(contents: ArchiveContents, entry: DockerManifestEntry): ImageReference[] {
  return (entry.RepoTags ?? []).map((tag) => {
    try {
      const ref = parseReference(tag);
      if (!isTagReference(ref)) throw new UsageError(`RepoTags entry ${JSON.stringify(tag)} is not a name:tag`);
      return ref;
    } catch (err) {
      if (err instanceof UsageError) throw new InvalidInputError(contents.where(dockerManifestName), err.message);
      throw err;
    }
  });
}

/** Tags by image ID, for naming the index.json entries of a Docker 25+ archive that carry no full name. */
export function namesByConfig(contents: ArchiveContents, entries: DockerManifestEntry[]): Map<Digest, ImageReference[]> {
  const names = new Map<Digest, ImageReference[]>();
  for (const entry of entries) {
    const id = sha256(contents.bytes(entry.Config, dockerManifestName));
    names.set(id, [...(names.get(id) ?? []), ...repoTags(contents, entry)]);
  }
  return names;
}

/**
 * Which entries a `docker-archive:PATH:REF` address means: `@N` is the Nth
 * image (skopeo's syntax), anything else a name:tag among the RepoTags, and
 * then only that tag is loaded.
 */
export function selectByRef<T>(images: T[], tagsOf: (image: T) => ImageReference[], ref: string | undefined, archive: string): Array<{ image: T; tags: ImageReference[] }> {
  if (ref === undefined) return images.map((image) => ({ image, tags: tagsOf(image) }));
  const position = /^@(\d+)$/.exec(ref);
  if (position) {
    const image = images[Number(position[1])];
    if (image === undefined) throw new NotFoundError(`${archive}: no image ${ref} (the archive has ${images.length})`);
    return [{ image, tags: tagsOf(image) }];
  }
  const wanted = parseReference(ref);
  const found = images.filter((image) => tagsOf(image).some((tag) => sameReference(tag, wanted)));
  if (found.length === 0) throw new NotFoundError(`${archive}: no image tagged ${ref} in the archive`);
  return found.map((image) => ({ image, tags: [wanted] }));
}

/**
 * The images of a docker-archive, by manifest.json, each a manifest made
 * here around its config (held to the digest its name gives) and its layer
 * members, which the copy then checks like any image's; with a platform,
 * only the images built for it.
 */
export function dockerArchiveImages(contents: ArchiveContents, source: ArchiveSource, ref: string | undefined, platform: Platform | undefined): ArchiveImage[] {
  const entries = readDockerManifest(contents);
  if (entries.length === 0) throw new InvalidInputError(contents.where(dockerManifestName), 'no images in manifest.json');
  const candidates = selectByRef(entries, (entry) => repoTags(contents, entry), ref, contents.archive);
  const platformOf = ({ image: entry }: (typeof candidates)[number]): Platform => {
    const { config } = parseConfig(contents, entry.Config);
    return { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
  };
  const selected = platform ? candidates.filter((candidate) => platformMatches(platform, platformOf(candidate))) : candidates;
  // None for this platform: the one chooser says so, naming those the archive has.
  if (selected.length === 0) choosePlatform(candidates, platform!, platformOf, contents.archive, { holder: 'the archive' });
  return selected.map(({ image: entry, tags }) => {
    const { bytes } = parseConfig(contents, entry.Config);
    const imageId = source.hold(bytes);
    // Classic archives name the config after its digest: hold them to it.
    const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config);
    if (named && `sha256:${named[1]}` !== imageId) throw new InvalidInputError(contents.where(entry.Config), `digest mismatch: expected sha256:${named[1]}, got ${imageId}`);
    const layers = entry.Layers.map((name): Descriptor => {
      const blob = contents.blob(name, dockerManifestName);
      if (blob.compression !== 'none' && blob.compression !== 'gzip' && blob.compression !== 'zstd') {
        throw new InvalidInputError(contents.where(blob.name), `${blob.compression}-compressed layer: OCI has no media type for it (recompress it with gzip or zstd)`);
      }
      return { mediaType: ociLayerMediaType(blob.compression), digest: blob.digest, size: blob.size };
    });
    const manifest = imageManifest({ config: bytes, layers });
    source.hold(manifest.bytes);
    return { top: manifest.descriptor, tags, name: tags[0] ? familiarName(tags[0]) : imageId, classic: true };
  });
}

/** An image config from the archive: the fields load relies on, checked. */
function parseConfig(contents: ArchiveContents, name: string): { config: ImageConfig; bytes: Buffer } {
  const { value, bytes } = contents.json<unknown>(name, dockerManifestName);
  return { config: parseImageConfig(value, contents.where(name)), bytes };
}
