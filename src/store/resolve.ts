/**
 * The one way a command finds the image it is given: a name, name@digest or
 * image ID becomes an index.json entry (findImage), then one platform's
 * manifest and its config, read and checked (resolveImage). The store keeps
 * blobs, the index and the lock; this reads them.
 */
import { InvalidInputError, NotFoundError, UsageError } from '../errors.js';
import { digestHex } from '../oci/digest.js';
import { choosePlatform, hostPlatform } from '../oci/platform.js';
import { familiarName, familiarRepository, parseReference, type ImageReference } from '../oci/reference.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type Digest, type ImageConfig, type Manifest, type Platform } from '../oci/types.js';
import { parseImageConfig, parseManifest } from '../oci/validate.js';
import { entryNamed, entryReference, type Store } from './store.js';
import { closest } from '../text.js';

export interface ResolvedImage {
  name?: string;                 // familiar name if resolved by tag
  descriptor: Descriptor;        // the index.json entry (a manifest, or an index for multi-platform)
  manifestDescriptor: Descriptor; // the chosen platform's manifest
  manifest: Manifest;
  config: ImageConfig;
}

/** What a name or ID designates in index.json, before a platform is chosen. */
export interface FoundImage {
  /** The name it was found by (none for an ID). */
  name?: string;
  /** The index.json entry (a manifest, or an index for multi-platform). */
  descriptor: Descriptor;
  /** When the ID named one manifest of an index entry: that manifest. */
  manifestDescriptor?: Descriptor;
}

/**
 * The one way a command finds the image it is given: by name[:tag],
 * name@digest, or full or short (≥ 4 hex characters, unambiguous, with or
 * without "sha256:") image ID (config digest, as docker) or manifest digest.
 * Names are tried first, as docker does, then IDs, so "abcd" is the tag
 * abcd:latest when there is one. No platform is chosen yet (see resolve).
 * Not found: the error suggests the names that come closest.
 */
export async function findImage(store: Store, text: string): Promise<FoundImage> {
  const entries = await store.imageEntries();
  const fullId = /^(?:sha256:)?([a-f0-9]{64})$/.exec(text);
  if (fullId) return findById(store, text, entries, `sha256:${fullId[1]}`, true);
  const ref = parseReference(text);
  if (ref.digest !== undefined) return findById(store, text, entries, ref.digest, true, familiarName(ref));
  const entry = entries.find((candidate) => entryNamed(candidate, ref));
  if (entry) return { name: familiarName(ref), descriptor: entry };
  const shortId = /^(?:sha256:)?([a-f0-9]{4,63})$/.exec(text);
  if (shortId) return findById(store, text, entries, `sha256:${shortId[1]}`, false);
  throw notFound(text, entries);
}

/**
 * find(), then an index is narrowed to one manifest for platform (default:
 * this machine's), and the manifest and config are read and checked.
 */
export async function resolveImage(store: Store, text: string, platform: Platform = hostPlatform()): Promise<ResolvedImage> {
  const found = await findImage(store, text);
  return resolveEntry(store, found.descriptor, platform, found.name, found.manifestDescriptor);
}

/** An index.json entry → the manifest for platform (or the one given) and its config. */
export async function resolveEntry(store: Store, entry: Descriptor, platform: Platform = hostPlatform(), name?: string, chosen?: Descriptor): Promise<ResolvedImage> {
  const manifestDescriptor = chosen ?? (await pickManifest(store, entry, platform));
  return { ...(name !== undefined ? { name } : {}), descriptor: entry, manifestDescriptor, ...(await readImage(store, manifestDescriptor.digest, manifestDescriptor.size)) };
}

/** An image manifest and its config from the store, each read bounded and checked (size: when a descriptor gives it). */
export async function readImage(store: Store, digest: Digest, size?: number): Promise<{ manifest: Manifest; config: ImageConfig }> {
  const manifest = parseManifest(await store.readJson<unknown>(digest, size), store.blobPath(digest));
  const config = parseImageConfig(await store.readJson<unknown>(manifest.config.digest, manifest.config.size), store.blobPath(manifest.config.digest));
  return { manifest, config };
}

/** The manifest for platform that descriptor stands for: itself, or the one chosen at each level of an index. */
async function pickManifest(store: Store, descriptor: Descriptor, platform: Platform): Promise<Descriptor> {
  if (isManifestMediaType(descriptor.mediaType)) return descriptor;
  const where = store.blobPath(descriptor.digest);
  if (!isIndexMediaType(descriptor.mediaType)) throw new InvalidInputError(where, `not an image manifest or index (media type ${descriptor.mediaType})`);
  const walk = store.walk([descriptor], (node, all) => {
    if (node.document?.kind !== 'index') return [];
    const usable = all.filter((child) => isManifestMediaType(child.mediaType) || isIndexMediaType(child.mediaType));
    return [choosePlatform(usable, platform, (child) => child.platform, store.blobPath(node.descriptor.digest))];
  });
  for await (const node of walk) if (isManifestMediaType(node.descriptor.mediaType)) return node.descriptor;
  throw new InvalidInputError(where, 'no manifest reached from this index');
}

/** Lookup by digest: exact, or a prefix that must designate exactly one image. */
async function findById(store: Store, text: string, entries: Descriptor[], digest: string, exact: boolean, name?: string): Promise<FoundImage> {
  const matches = (candidate: Digest): boolean => (exact ? candidate === digest : candidate.startsWith(digest));
  const named = name !== undefined ? { name } : {};
  // A whole digest that is an entry's is that entry (no config or child manifest has the same bytes): no manifest need be read,
  // which for a copy naming 10,000 images by digest is the difference between linear and quadratic.
  const direct = exact ? entries.findLast((entry) => entry.digest === digest) : undefined;
  if (direct) return { ...named, descriptor: direct };
  const found = new Map<string, FoundImage>();
  for (const entry of entries) {
    if (matches(entry.digest)) {
      found.set(entry.digest, { ...named, descriptor: entry });
      continue;
    }
    for (const child of await manifestsOf(store, entry)) {
      if (!matches(child.descriptor.digest) && !matches(child.manifest.config.digest)) continue;
      const manifestDescriptor = child.descriptor.digest === entry.digest ? {} : { manifestDescriptor: child.descriptor };
      if (!found.has(child.descriptor.digest)) found.set(child.descriptor.digest, { ...named, descriptor: entry, ...manifestDescriptor });
    }
  }
  if (found.size === 0) throw notFound(text, entries);
  if (found.size > 1) throw new UsageError(`${text} is ambiguous: it matches ${[...found.keys()].map((d) => digestHex(d as Digest).slice(0, 12)).join(', ')}; give more of the ID`);
  return [...found.values()][0]!;
}

/** The manifests an index.json entry stands for: itself, or those of an index's children (one level, what docker shows) that are here. */
async function manifestsOf(store: Store, entry: Descriptor): Promise<Array<{ descriptor: Descriptor; manifest: Manifest }>> {
  const out: Array<{ descriptor: Descriptor; manifest: Manifest }> = [];
  const walk = store.walk([entry], async (node, all) => {
    if (node.depth > 0 || node.document?.kind !== 'index') return [];
    const here: Descriptor[] = [];
    for (const child of all) if (isManifestMediaType(child.mediaType) && (await store.hasBlob(child.digest))) here.push(child);
    return here;
  }, true);
  for await (const node of walk) if (node.document?.kind === 'manifest') out.push({ descriptor: node.descriptor, manifest: node.document.manifest });
  return out;
}

/** "no such image", with the names closest to what was asked for (did you mean deb:3?). */
function notFound(text: string, entries: Descriptor[]): NotFoundError {
  const names = [...new Set(entries.map(entryReference).filter((ref): ref is ImageReference => ref !== undefined).map(familiarName))];
  const close = closestNames(text, names);
  return new NotFoundError(`no such image: ${text}${close.length > 0 ? ` (did you mean ${close.join(', ')}?)` : ''}`);
}

/** The names of the same repository, else those a few edits away, at most three. */
function closestNames(text: string, names: string[]): string[] {
  let wanted: ImageReference | undefined;
  try {
    wanted = parseReference(text);
  } catch {
    wanted = undefined;
  }
  const sameRepository = wanted ? names.filter((name) => familiarRepository(parseReference(name)) === familiarRepository(wanted)) : [];
  if (sameRepository.length > 0) return sameRepository.sort().slice(0, 3);
  return closest(text, names, (name) => [name, familiarRepository(parseReference(name))]);
}

