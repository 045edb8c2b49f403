/**
 * Delta transfer, both halves: what a receiving host already holds (`rootfs
 * have` writes it; `save --exclude-have FILE` and `--since REF` on the
 * sending host leave those layers out), and how an archive says which
 * layers it left out on purpose, so that load finds them in its store.
 * The have file is sorted and stable: the same store gives the same bytes.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError, RootfsError, fromFsError } from '../errors.js';
import { readMetadata } from '../io/metadata.js';
import { reproducibleEncoders } from '../compress/index.js';
import { isDigest } from '../oci/digest.js';
import { blobMemberName } from '../oci/layout.js';
import type { Digest, Index } from '../oci/types.js';
import { parseOciLayout } from '../oci/validate.js';
import { checkDocument, failer, readDocument, type DocumentKind } from '../split/document.js';
import type { Store } from '../store/store.js';
import type { ArchiveContents } from './contents.js';
import { resolveEntry } from '../store/resolve.js';

/** index.json annotation: the layer digests a delta save left out, comma-separated, sorted. */
export const omittedLayersAnnotation = 'io.rootfs.delta.omitted-layers';

/** The index with the omitted layers added to those it already names (saving into an existing layout). */
export function withOmittedLayers(index: Index, omitted: Iterable<Digest>, where: string): Index {
  const all = new Set([...omittedLayers(index, where), ...omitted]);
  if (all.size === 0) return index;
  return { ...index, annotations: { ...index.annotations, [omittedLayersAnnotation]: [...all].sort().join(',') } };
}

/** The layers an index.json says were left out on purpose. */
export function omittedLayers(index: Index, where: string): Set<Digest> {
  const text = index.annotations?.[omittedLayersAnnotation];
  if (text === undefined) return new Set();
  return new Set(
    text.split(',').map((item) => {
      if (!isDigest(item)) throw new InvalidInputError(where, `annotation ${omittedLayersAnnotation}: ${JSON.stringify(item)} is not a sha256 digest`);
      return item;
    }),
  );
}

/**
 * Layers that the archive's manifests name but the archive does not carry:
 * candidates to take from the store. Every JSON blob with a `layers` list
 * counts; the format reader decides later which manifests matter.
 */
export function absentLayers(contents: ArchiveContents): Digest[] {
  const absent = new Set<Digest>();
  for (const member of contents.members.values()) {
    if (member.kind !== 'blob' || !member.looksLikeJson) continue;
    const bytes = contents.bytes(member.name, member.name);
    let document: unknown;
    try {
      document = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue; // not a manifest; the format reader reports it if anything refers to it
    }
    const layers = (document as { layers?: unknown } | null)?.layers;
    if (!Array.isArray(layers)) continue;
    for (const layer of layers as Array<{ digest?: unknown } | null>) {
      const digest = layer?.digest;
      if (isDigest(digest) && !contents.has(blobMemberName(digest))) absent.add(digest);
    }
  }
  return [...absent].sort();
}

export const haveFormat = 'rootfs-have';
/** Version 2 added `encoders`; a version-1 file reads as a site that can rebuild no compressed layer. */
export const haveVersion = 2;
const haveKind: DocumentKind = { what: 'have file', format: haveFormat, version: haveVersion, alsoReads: [1], cap: 'haveFile', hint: 'write one with rootfs have' };

export interface HaveImage {
  /** The familiar name it is tagged with ("base:latest"). */
  name: string;
  /** The digest of the (platform) manifest the tag resolves to on this host. */
  manifest: Digest;
  /** Its layers' diff_ids, base first. */
  layers: Digest[];
}

export interface HaveDocument {
  format: typeof haveFormat;
  version: typeof haveVersion;
  /** The store's oci-layout imageLayoutVersion. */
  imageLayoutVersion: string;
  /** Every blob in the store, sorted. */
  blobs: Digest[];
  /** Every tag, sorted by name. */
  images: HaveImage[];
  /** The layer encoders the site runs (compress/index.ts reproducibleEncoders): the recipes a delta may ask it to follow. */
  encoders: string[];
}

export interface HaveFile {
  imageLayoutVersion: string;
  blobs: Set<Digest>;
  images: HaveImage[];
  encoders: Set<string>;
}

export interface CollectedHave {
  document: HaveDocument;
  /** Tags that could not be resolved (a missing or damaged manifest): left out of images, their blobs still listed. */
  skipped: Array<{ name: string; reason: string }>;
}

export async function collectHave(store: Store): Promise<CollectedHave> {
  const layoutPath = join(store.dir, 'oci-layout');
  const blobDir = join(store.dir, 'blobs', 'sha256');
  let layoutText: string;
  let names: string[];
  try {
    layoutText = (await readMetadata(layoutPath, 'ociLayout', 'an oci-layout file')).toString('utf8');
    names = await readdir(blobDir);
  } catch (err) {
    throw fromFsError(err, store.dir);
  }
  const blobs = names.map((name): string => `sha256:${name}`).filter(isDigest).sort();
  const images: HaveImage[] = [];
  const skipped: CollectedHave['skipped'] = [];
  for (const image of await store.listImages()) {
    try {
      const resolved = await resolveEntry(store, image.descriptor);
      images.push({ name: image.name, manifest: resolved.manifestDescriptor.digest, layers: [...resolved.config.rootfs.diff_ids] });
    } catch (err) {
      if (!(err instanceof RootfsError)) throw err;
      skipped.push({ name: image.name, reason: err.message });
    }
  }
  images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { imageLayoutVersion } = parseOciLayout(layoutText, layoutPath);
  return { document: { format: haveFormat, version: haveVersion, imageLayoutVersion, blobs, images, encoders: reproducibleEncoders() }, skipped };
}

export function formatHave(document: HaveDocument): string {
  return `${JSON.stringify(document, null, 1)}\n`;
}

/** Reads and checks a file `rootfs have` wrote; anything else is an InvalidInputError naming the file. */
export async function readHaveFile(path: string): Promise<HaveFile> {
  return parseHave(await readDocument(path, haveKind), path);
}

export function parseHave(value: unknown, where: string): HaveFile {
  const doc = checkDocument(value, where, haveKind);
  const fail = failer(where);
  if (typeof doc.imageLayoutVersion !== 'string') return fail('no imageLayoutVersion');
  const digests = (list: unknown, field: string): Digest[] => {
    if (!Array.isArray(list)) return fail(`${field} is not an array`);
    return list.map((item, i) => (isDigest(item) ? item : fail(`${field}[${i}] ${JSON.stringify(item)} is not a sha256 digest`)));
  };
  const blobs = new Set(digests(doc.blobs, 'blobs'));
  if (!Array.isArray(doc.images)) return fail('images is not an array');
  const images = doc.images.map((entry: unknown, i): HaveImage => {
    const at = `images[${i}]`;
    if (typeof entry !== 'object' || entry === null) return fail(`${at} is not an object`);
    const image = entry as Record<string, unknown>;
    if (typeof image.name !== 'string' || image.name === '') return fail(`${at} has no name`);
    if (!isDigest(image.manifest)) return fail(`${at}.manifest ${JSON.stringify(image.manifest)} is not a sha256 digest`);
    return { name: image.name, manifest: image.manifest, layers: digests(image.layers, `${at}.layers`) };
  });
  let encoders: string[] = [];
  if (doc.version !== 1) {
    if (!Array.isArray(doc.encoders)) return fail('encoders is not an array');
    encoders = doc.encoders.map((item, i) => (typeof item === 'string' ? item : fail(`encoders[${i}] is not a string`)));
  }
  return { imageLayoutVersion: doc.imageLayoutVersion, blobs, images, encoders: new Set(encoders) };
}
