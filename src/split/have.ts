/**
 * What a receiving host already holds, for delta transfer: `rootfs have`
 * writes it, `rootfs save --exclude-have FILE` on the sending host reads it
 * and leaves those blobs out. Sorted and stable, so the same store gives the
 * same bytes.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RootfsError, fromFsError } from '../errors.js';
import { metadataSizeCap, readMetadata } from '../io/metadata.js';
import { isDigest } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { parseOciLayout } from '../oci/validate.js';
import { checkDocument, failer, readDocument, type DocumentKind } from './document.js';

export const haveFormat = 'rootfs-have';
export const haveVersion = 1;
/** A million blobs make about 75 MB. */
const haveKind: DocumentKind = { what: 'have file', format: haveFormat, version: haveVersion, sizeCap: 128 * 1024 * 1024, hint: 'write one with rootfs have' };

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
}

export interface HaveFile {
  imageLayoutVersion: string;
  blobs: Set<Digest>;
  images: HaveImage[];
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
    layoutText = (await readMetadata(layoutPath, metadataSizeCap)).toString('utf8');
    names = await readdir(blobDir);
  } catch (err) {
    throw fromFsError(err, store.dir);
  }
  const blobs = names.map((name): string => `sha256:${name}`).filter(isDigest).sort();
  const images: HaveImage[] = [];
  const skipped: CollectedHave['skipped'] = [];
  for (const image of await store.listImages()) {
    try {
      const resolved = await store.resolveEntry(image.descriptor);
      images.push({ name: image.name, manifest: resolved.manifestDescriptor.digest, layers: [...resolved.config.rootfs.diff_ids] });
    } catch (err) {
      if (!(err instanceof RootfsError)) throw err;
      skipped.push({ name: image.name, reason: err.message });
    }
  }
  images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { imageLayoutVersion } = parseOciLayout(layoutText, layoutPath);
  return { document: { format: haveFormat, version: haveVersion, imageLayoutVersion, blobs, images }, skipped };
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
  return { imageLayoutVersion: doc.imageLayoutVersion, blobs, images };
}
