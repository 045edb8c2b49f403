/**
 * An image's SBOM: made from its layers (the merged tree, read as export
 * reads it; only the package databases are kept), or attached to it as an
 * OCI 1.1 referrer the way signatures are (trust/sign.ts): the document is a
 * blob, an artifact manifest (artifactType = the document's media type,
 * config = the empty descriptor, one layer = the document) names the image's
 * manifest as its subject, and the store records it as a referrer, so it
 * travels wherever referrers travel.
 */
import { InvalidInputError } from '../errors.js';
import { documentCaps } from '../io/metadata.js';
import { imageMembers } from '../layers/members.js';
import { Annotation, type Descriptor, type Manifest } from '../oci/types.js';
import { attachArtifact } from '../store/artifact.js';
import { resolveImage, type ResolvedImage } from '../store/resolve.js';
import type { Store } from '../store/store.js';
import type { TreeMember } from '../layers/members.js';
import { inventoryOfTree, PackageDatabaseTap } from './collect.js';
import { sbomFormats, writeSbom, type SbomFormat } from './format.js';
import type { SbomOptions } from './identity.js';
import type { Inventory } from './types.js';

const titleAnnotation = 'org.opencontainers.image.title';

/** The inventory of an image's merged layers. */
export function imageInventory(store: Store, image: ResolvedImage, where: string): Promise<Inventory> {
  return inventoryOfTree(imageMembers(store, image.manifest.layers, where));
}

/** The subject an SBOM of image describes and is attached to: the manifest of the platform whose layers it lists. */
export function sbomSubject(image: ResolvedImage): Descriptor {
  const { mediaType, digest, size } = image.manifestDescriptor;
  return { mediaType, digest, size };
}

/**
 * The newest SBOM attached to subject in one of formats (in that order of
 * preference), its bytes checked against their digest; undefined if none.
 */
export async function attachedSbom(store: Store, subject: Descriptor, formats: SbomFormat[]): Promise<{ format: SbomFormat; referrer: Descriptor; bytes: Buffer } | undefined> {
  for (const format of formats) {
    const referrer = (await store.referrers(subject.digest, sbomFormats[format].mediaType)).at(-1);
    if (!referrer) continue;
    if (referrer.size > documentCaps.image) throw new InvalidInputError(store.blobPath(referrer.digest), `a manifest of ${referrer.size} bytes, larger than any artifact manifest`);
    const manifest = JSON.parse((await store.readBlob(referrer.digest, referrer.size)).toString('utf8')) as Manifest;
    const layer = manifest.layers?.[0];
    if (!layer || typeof layer.digest !== 'string' || typeof layer.size !== 'number' || layer.size > documentCaps.sbom) throw new InvalidInputError(store.blobPath(referrer.digest), 'an SBOM referrer without its document');
    return { format, referrer, bytes: await store.readBlob(layer.digest, layer.size) };
  }
  return undefined;
}

/** Stores document and records it as a referrer of subject (store/artifact.ts); returns the referrer's descriptor. */
export async function attachSbom(store: Store, subject: Descriptor, format: SbomFormat, document: Buffer, created: Date): Promise<Descriptor> {
  const { mediaType } = sbomFormats[format];
  const stored = await store.putBlob(document);
  const layer: Descriptor = { mediaType, digest: stored.digest, size: stored.size, annotations: { [titleAnnotation]: `sbom.${format}.json` } };
  return attachArtifact(store, subject, mediaType, layer, { [Annotation.Created]: created.toISOString() });
}

export interface SbomRequest {
  /** Undefined: an attached SBOM of either format (SPDX first), else a new SPDX one. */
  format?: SbomFormat;
  /** Make one from the layers and attach it, even if one is attached. */
  attach?: boolean;
  /** The document's time: SOURCE_DATE_EPOCH when set; else the image's created, else now. */
  created?: Date;
  toolVersion: string;
}

export interface SbomResult {
  format: SbomFormat;
  document: Buffer;
  /** Set when the document was made here (absent: it was the one attached). */
  inventory?: Inventory;
  /** The referrer the document is (attached before, or by this call). */
  referrer?: Descriptor;
  /** The manifest the SBOM describes. */
  subject?: Descriptor;
}

/** `rootfs sbom REF [--attach]`: the SBOM attached to the image text names, or one made from its layers (and attached, with attach). */
export async function imageSbom(store: Store, text: string, request: SbomRequest): Promise<SbomResult> {
  const image = await resolveImage(store, text);
  const subject = sbomSubject(image);
  if (!request.attach) {
    const attached = await attachedSbom(store, subject, request.format ? [request.format] : ['spdx', 'cyclonedx']);
    if (attached) return { format: attached.format, document: attached.bytes, referrer: attached.referrer, subject };
  }
  const format = request.format ?? 'spdx';
  const inventory = await imageInventory(store, image, text);
  const imageCreated = new Date(image.config.created ?? Number.NaN);
  const created = request.created ?? (Number.isNaN(imageCreated.getTime()) ? new Date() : imageCreated);
  const document = writeSbom(format, inventory, { name: image.name ?? text, digest: subject.digest }, { created, toolVersion: request.toolVersion });
  const referrer = request.attach ? await attachSbom(store, subject, format, document, created) : undefined;
  return { format, document, inventory, subject, ...(referrer ? { referrer } : {}) };
}

/** `rootfs sbom DIR|TAR`: an SBOM made from a tree, named by the path given. */
export async function treeSbom(members: AsyncIterable<TreeMember> | Iterable<TreeMember>, name: string, request: Omit<SbomRequest, 'attach'>): Promise<SbomResult> {
  const format = request.format ?? 'spdx';
  const inventory = await inventoryOfTree(members);
  const document = writeSbom(format, inventory, { name }, { created: request.created ?? new Date(), toolVersion: request.toolVersion });
  return { format, document, inventory };
}

/** What a capture's SBOM found: the inventory, and the referrer attached (none for a tree with no package database). */
export interface CapturedSbom {
  inventory: Inventory;
  referrer?: Descriptor;
}

/**
 * A capture (import, commit) with its SBOM: capture is given the tap to feed
 * (undefined when sbom is), and the databases the tap took from the new tree
 * become an SPDX SBOM attached to the image it made, right after it is
 * committed, named by the image ID, not a tag: the same image captured under
 * two names gets one SBOM, not two. A tree with no package database gets
 * none: an SBOM listing nothing would say less than no SBOM.
 */
export async function withCapturedSbom<T extends { manifest: Descriptor; imageId: string }>(store: Store, sbom: SbomOptions | undefined, capture: (tap: PackageDatabaseTap | undefined) => Promise<T>): Promise<T & { sbom?: CapturedSbom }> {
  const tap = sbom ? new PackageDatabaseTap() : undefined;
  try {
    await tap?.open();
    const result = await capture(tap);
    if (!tap || !sbom) return result;
    const inventory = await tap.inventory();
    if (inventory.databases.length === 0) return { ...result, sbom: { inventory } };
    const document = writeSbom('spdx', inventory, { name: result.imageId, digest: result.manifest.digest }, sbom);
    return { ...result, sbom: { inventory, referrer: await attachSbom(store, result.manifest, 'spdx', document, sbom.created) } };
  } finally {
    await tap?.close();
  }
}
