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
import { metadataSizeCap } from '../io/metadata.js';
import { digestHex } from '../oci/digest.js';
import { Annotation, type Descriptor, type Platform } from '../oci/types.js';
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
}

/**
 * Signs the image text names (a name, name@digest or ID, as findImage
 * takes) and records the signature in the store: what it names (an index
 * signs whole), or with platform that platform's manifest (what a docker
 * archive or a --platform save carries).
 */
export async function signImage(store: Store, text: string, key: SigningKey, options: { platform?: Platform; now?: Date } = {}): Promise<ImageSignature> {
  const now = options.now ?? new Date();
  const found = await findImage(store, text);
  const chosen = options.platform ? (await resolveEntry(store, found.descriptor, options.platform, found.name, found.manifestDescriptor)).manifestDescriptor : (found.manifestDescriptor ?? found.descriptor);
  const subject: Descriptor = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
  if (subject.size > metadataSizeCap) throw new InvalidInputError(store.blobPath(subject.digest), `a manifest of ${subject.size} bytes, larger than any image manifest`);
  // Read, so a damaged manifest is not signed: the read checks its digest.
  await store.readBlob(subject.digest, subject.size);
  const bundleBytes = signImageDigest(found.name ?? text, subject.digest, key);
  const stored = await store.putBlob(bundleBytes);
  const bundle: Descriptor = {
    mediaType: BundleMediaType,
    digest: stored.digest,
    size: stored.size,
    annotations: { [titleAnnotation]: `sha256-${digestHex(stored.digest)}.sigstore.json` },
  };
  const annotations = { [BundleContentAnnotation]: 'dsse-envelope', [BundlePredicateAnnotation]: CosignSignPredicate, [Annotation.Created]: now.toISOString() };
  const referrer = await attachArtifact(store, subject, BundleMediaType, bundle, annotations);
  return { subject, referrer, bundle };
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
