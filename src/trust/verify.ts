/**
 * Verifying an image's signature: some Sigstore bundle referring to the
 * image must be a signature by a trusted key over exactly its manifest (or
 * index): a statement naming its digest, or a message signature over its
 * bytes (message.ts); and, unless told otherwise, every blob the
 * image is made of must still hash to the digest the signed manifest gives
 * it. The core reads through a BlobSource, not a Store, so the same check
 * runs over the store, over what load has staged before naming anything,
 * and over a registry pull.
 */
import type { Readable } from 'node:stream';
import { InvalidInputError, NotFoundError, VerificationError } from '../errors.js';
import { documentCaps } from '../io/metadata.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type Digest, type Manifest } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { parseJson, parseManifest } from '../oci/validate.js';
import { walkImage } from '../oci/walk.js';
import { BundleMediaType, parseBundle, type SigstoreBundle } from './bundle.js';
import type { VerifyingKey } from './keys.js';
import { verifyBundle } from './message.js';
import { findImage } from '../store/resolve.js';

/** Where blobs come from. Both reads must check the bytes against the digest (and the size, given), failing with InvalidInputError (DigestMismatchError) when they differ and NotFoundError when the blob is absent. */
export interface BlobSource {
  readBlob(digest: Digest, size?: number): Promise<Buffer>;
  openBlob(digest: Digest, size?: number): Readable;
}

export interface VerifyOptions {
  /** Also read every config and layer and check its digest (default true); false when the caller checks them as it copies. */
  content?: boolean;
}

export interface VerifiedImage {
  /** What was checked, as the user named it. */
  name: string;
  subject: Descriptor;
  /** The referrer whose bundle verified. */
  referrer: Descriptor;
  bundle: SigstoreBundle;
  /** The trusted key it verified with. */
  key: VerifyingKey;
  /** Blobs whose digests were checked besides the signed manifest (0 with content: false). */
  blobsChecked: number;
}

/**
 * Signature candidates looked at per image, at most (docs/trust.md): more
 * is refused, so whoever can write a medium or a registry cannot make a
 * check take hours by listing signatures by another key.
 */
export const maxSignatures = 1000;

/**
 * The verify core. name is for messages; subject is the descriptor of the
 * manifest or index that was signed; referrers are the candidate signature
 * manifests (any artifactType: the others are passed over); keys are the
 * trusted keys, any one of which suffices. Succeeds when one bundle
 * verifies with one key; otherwise throws the most telling failure. Each
 * referrer is read and its bundle parsed once, the signed document hashed
 * once: linear in the referrers, which are bounded by maxSignatures.
 */
export async function verifyImageSignature(source: BlobSource, name: string, subject: Descriptor, referrers: Descriptor[], keys: VerifyingKey[], options: VerifyOptions = {}): Promise<VerifiedImage> {
  const signedBytes = await readDocument(source, subject, name, 'manifest');
  const signed = { bytes: signedBytes, digest: subject.digest };
  const candidates = signatureCandidates(referrers);
  if (candidates.length === 0) throw new VerificationError(name, 'unsigned', `no signature: no Sigstore bundle refers to ${subject.digest}`);
  if (candidates.length > maxSignatures) {
    throw new VerificationError(name, 'malformed', `${candidates.length} signatures refer to ${subject.digest}, more than the ${maxSignatures} rootfs looks at: refused unchecked (docs/trust.md)`);
  }
  let failure: VerificationError | undefined;
  const failed = (err: unknown): void => {
    if (!(err instanceof VerificationError)) throw err;
    if (!failure || severity(err) < severity(failure)) failure = err;
  };
  for (const referrer of candidates) {
    let bundle: SigstoreBundle | undefined;
    const where = `in ${referrer.digest}`;
    try {
      const bytes = await signatureBundle(source, referrer, subject, name);
      bundle = bytes === undefined ? undefined : parseBundle(bytes, where);
    } catch (err) {
      failed(err);
    }
    if (bundle === undefined) continue;
    for (const key of keys) {
      try {
        verifyBundle(bundle, signed, key, name, where, { allowDsse: true });
      } catch (err) {
        failed(err);
        continue;
      }
      const blobsChecked = options.content === false ? 0 : await checkContent(source, subject, signedBytes, name, 'changed after signing or damaged');
      return { name, subject, referrer, key, bundle, blobsChecked };
    }
  }
  throw failure ?? new VerificationError(name, 'unsigned', `no signature: nothing that refers to ${subject.digest} is a Sigstore bundle`);
}

/** The referrers that may be signatures: Sigstore bundles, and those that do not say what they are. */
function signatureCandidates(referrers: Descriptor[]): Descriptor[] {
  return referrers.filter((referrer) => referrer.artifactType === undefined || referrer.artifactType === BundleMediaType);
}

/** The image text names in the store: the descriptor of the manifest or index a signature of it is over. */
async function storedSubject(store: Store, text: string): Promise<Descriptor> {
  const found = await findImage(store, text);
  const chosen = found.manifestDescriptor ?? found.descriptor;
  return { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
}

/** verifyImageSignature over the store: the image text names (findImage) and the referrers recorded for it. */
export async function verifyStoredImage(store: Store, text: string, keys: VerifyingKey[], options?: VerifyOptions): Promise<VerifiedImage> {
  const subject = await storedSubject(store, text);
  return verifyImageSignature(store, text, subject, await store.referrers(subject.digest), keys, options);
}

export interface CheckedImage {
  name: string;
  subject: Descriptor;
  /** The referrers that may be signatures: present, not checked (no key was given). */
  signatures: number;
  /** Blobs whose digests were checked besides the manifest or index itself. */
  blobsChecked: number;
}

/**
 * An image in the store checked without a key: its manifest (or index) and
 * every blob under it against their digests, what a user means by checking
 * an image they hold. Its signatures are counted, not checked: no key says
 * whose they should be.
 */
export async function checkStoredImage(store: Store, text: string): Promise<CheckedImage> {
  const subject = await storedSubject(store, text);
  const damage = 'changed since it was stored, or damaged';
  const bytes = await readDocument(store, subject, text, 'manifest', damage);
  const blobsChecked = await checkContent(store, subject, bytes, text, damage);
  return { name: text, subject, signatures: signatureCandidates(await store.referrers(subject.digest)).length, blobsChecked };
}

/** A failure caused by tampering says more than "another key"; "another key" more than an unreadable bundle. */
function severity(err: VerificationError): number {
  return ['bad-signature', 'digest-mismatch', 'wrong-key', 'unsupported-key', 'malformed', 'unsigned'].indexOf(err.problem);
}

/** The bundle bytes of a signature manifest, or undefined when the referrer is some other artifact (an SBOM). */
async function signatureBundle(source: BlobSource, referrer: Descriptor, subject: Descriptor, name: string): Promise<Buffer | undefined> {
  const where = `signature manifest ${referrer.digest}`;
  const malformed = (detail: string): never => {
    throw new VerificationError(name, 'malformed', `${where}: ${detail}`);
  };
  const bytes = await readDocument(source, referrer, name, 'signature manifest');
  let manifest: Manifest;
  try {
    manifest = parseManifest(parseJson(bytes.toString('utf8'), where), where);
  } catch (err) {
    if (err instanceof InvalidInputError) throw new VerificationError(name, 'malformed', err.message, { cause: err });
    throw err;
  }
  if (manifest.artifactType !== BundleMediaType) return undefined;
  if (manifest.subject?.digest !== subject.digest) {
    throw new VerificationError(name, 'digest-mismatch', `${where} refers to ${manifest.subject?.digest ?? 'nothing'}, not ${subject.digest}`);
  }
  const layer = manifest.layers.find((candidate) => candidate.mediaType === BundleMediaType);
  if (!layer) return malformed(`no layer of type ${BundleMediaType}`);
  if (layer.size > documentCaps.signature) return malformed(`a bundle of ${layer.size} bytes, more than ${documentCaps.signature}`);
  return readDocument(source, layer, name, 'signature bundle');
}

/** A small document through the source: bounded by its descriptor's size, digest-checked; a mismatch is tampering, said as such. */
async function readDocument(source: BlobSource, descriptor: Descriptor, name: string, what: string, damage = 'changed after signing or damaged'): Promise<Buffer> {
  if (descriptor.size > documentCaps.image) throw new VerificationError(name, 'malformed', `${what} ${descriptor.digest} claims ${descriptor.size} bytes, more than a document has`);
  try {
    return await source.readBlob(descriptor.digest, descriptor.size);
  } catch (err) {
    throw changed(err, name, what, descriptor, damage);
  }
}

/** damage: what a mismatch means here ("changed after signing or damaged" where a signature vouched for the bytes). */
function changed(err: unknown, name: string, what: string, descriptor: Descriptor, damage: string): unknown {
  if (!(err instanceof InvalidInputError)) return err;
  return new VerificationError(name, 'digest-mismatch', `${what} ${descriptor.digest} does not match its digest: ${damage} (${err.message})`, { cause: err });
}

/** Every blob under the signed document (whose bytes verified), digest-checked; an index's children that the source lacks (a partial pull) are passed over. */
async function checkContent(source: BlobSource, subject: Descriptor, signed: Buffer, name: string, damage: string): Promise<number> {
  const configs = new Set<Digest>();
  const walk = walkImage([subject], {
    read: async (descriptor) => {
      if (descriptor.digest === subject.digest) return signed;
      try {
        return await readDocument(source, descriptor, name, 'manifest', damage);
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
    },
    where: (descriptor) => `${name}: ${descriptor.digest}`,
    children: (node, all) => (node.document?.kind === 'index' ? all.filter((child) => isManifestMediaType(child.mediaType) || isIndexMediaType(child.mediaType)) : all),
  });
  let checked = 0;
  for await (const { descriptor, document, depth } of walk) {
    if (document?.kind === 'manifest') configs.add(document.manifest.config.digest);
    if (depth === 0) continue;
    if (isManifestMediaType(descriptor.mediaType) || isIndexMediaType(descriptor.mediaType)) {
      if (document) checked++;
      continue;
    }
    const what = configs.has(descriptor.digest) ? 'config' : 'layer';
    try {
      for await (const _chunk of source.openBlob(descriptor.digest, descriptor.size)) {
        // Reading is the check: the stream fails at its end on a mismatch.
      }
    } catch (err) {
      throw changed(err, name, what, descriptor, damage);
    }
    checked++;
  }
  return checked;
}
