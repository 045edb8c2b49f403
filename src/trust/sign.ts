/**
 * Signing an image in the store the way cosign attaches a Sigstore bundle
 * (cosign specs/BUNDLE_SPEC.md): the bundle is a blob; an OCI 1.1 artifact
 * manifest (artifactType = the bundle media type, config = the empty
 * descriptor, one layer = the bundle) names the signed manifest as its
 * subject; the store records that manifest as a referrer of the image.
 * What is signed is cosign v3's statement naming the digest of the
 * manifest or index the reference names (a DSSE envelope), so the
 * signature is over the digest a user sees and pulls by.
 */
import { InvalidInputError } from '../errors.js';
import { documentCaps } from '../io/metadata.js';
import { digestHex } from '../oci/digest.js';
import { Annotation, type Descriptor, type Digest, type Platform } from '../oci/types.js';
import { sbomMediaTypes } from '../sbom/media-types.js';
import { attachArtifact } from '../store/artifact.js';
import type { Store } from '../store/store.js';
import { BundleMediaType } from './bundle.js';
import type { SigningKey } from './keys.js';
import { signImageDigest } from './message.js';
import { CosignSignPredicate } from './statement.js';
import { findImage, resolveEntry } from '../store/resolve.js';

/** cosign's annotations saying what the bundle holds, so a referrers list tells signatures from attestations. */
export const BundleContentAnnotation = 'dev.sigstore.bundle.content';
export const BundlePredicateAnnotation = 'dev.sigstore.bundle.predicateType';
const titleAnnotation = 'org.opencontainers.image.title';

export interface ImageSignature {
  /** The signed manifest or index. */
  subject: Descriptor;
  /** The artifact manifest recorded as its referrer. */
  referrer: Descriptor;
  /** The bundle blob. */
  bundle: Descriptor;
  /** The SBOMs attached to what was signed (to an index's manifests too), each signed with it. */
  sboms: Array<Omit<ImageSignature, 'sboms'>>;
}

/**
 * Signs the image text names (a name, name@digest or ID, as findImage
 * takes) and records the signature in the store: what it names (an index
 * signs whole), or with platform that platform's manifest (what a docker
 * archive or a --platform save carries). Its SBOM referrers are signed too,
 * as referrers of their own, so --require-signed can ask for them.
 */
export async function signImage(store: Store, text: string, key: SigningKey, options: { platform?: Platform; now?: Date } = {}): Promise<ImageSignature> {
  const now = options.now ?? new Date();
  const found = await findImage(store, text);
  const chosen = options.platform ? (await resolveEntry(store, found.descriptor, options.platform, found.name, found.manifestDescriptor)).manifestDescriptor : (found.manifestDescriptor ?? found.descriptor);
  const subject: Descriptor = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
  const name = found.name ?? text;
  const image = found.descriptor.digest;
  const signature = await signDocument(store, name, subject, key, now, image);
  const sboms: ImageSignature['sboms'] = [];
  for (const sbom of await sbomReferrers(store, subject)) sboms.push(await signDocument(store, name, sbom, key, now, image));
  return { ...signature, sboms };
}

/** Signs one manifest or index in the store (an image's, or an SBOM's) and records the signature as its referrer. */
async function signDocument(store: Store, name: string, document: Descriptor, key: SigningKey, now: Date, image: Digest): Promise<Omit<ImageSignature, 'sboms'>> {
  const subject: Descriptor = { mediaType: document.mediaType, digest: document.digest, size: document.size };
  if (subject.size > documentCaps.image) throw new InvalidInputError(store.blobPath(subject.digest), `a manifest of ${subject.size} bytes, larger than any image manifest`);
  // Read, so a damaged manifest is not signed: the read checks its digest.
  await store.readBlob(subject.digest, subject.size);
  const bundleBytes = signImageDigest(name, subject.digest, key);
  const stored = await store.putBlob(bundleBytes);
  const bundle: Descriptor = {
    mediaType: BundleMediaType,
    digest: stored.digest,
    size: stored.size,
    annotations: { [titleAnnotation]: `sha256-${digestHex(stored.digest)}.sigstore.json` },
  };
  const annotations = { [BundleContentAnnotation]: 'dsse-envelope', [BundlePredicateAnnotation]: CosignSignPredicate, [Annotation.Created]: now.toISOString() };
  const referrer = await attachArtifact(store, subject, BundleMediaType, bundle, annotations, image);
  return { subject, referrer, bundle };
}

/** The SBOM referrers of subject and, for an index, of the manifests under it (where `rootfs sbom --attach` puts them). */
async function sbomReferrers(store: Store, subject: Descriptor): Promise<Descriptor[]> {
  const found: Descriptor[] = [];
  for (const digest of await store.subjectsOf(subject)) found.push(...(await store.referrers(digest)).filter((referrer) => sbomMediaTypes.includes(referrer.artifactType ?? '')));
  return found;
}

/**
 * signImage for each of texts, every one found first: a typo in the last
 * must not leave the first ones signed alone.
 */
export async function signImages(store: Store, texts: string[], key: SigningKey, options: { platform?: Platform; now?: Date } = {}): Promise<Array<ImageSignature & { image: string }>> {
  for (const text of texts) await findImage(store, text);
  const signed: Array<ImageSignature & { image: string }> = [];
  for (const text of texts) signed.push({ image: text, ...(await signImage(store, text, key, options)) });
  return signed;
}
