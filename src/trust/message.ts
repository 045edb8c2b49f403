/**
 * Signing into a Sigstore bundle and checking one against the signed bytes
 * and a trusted key: the one check images and part manifests both go
 * through, each failure its own VerificationError. Part manifests get a
 * message signature over their bytes; images a DSSE-wrapped statement
 * naming their manifest digest, as cosign v3 signs them (a message
 * signature over the manifest bytes, as older tools make, verifies too).
 */
import { sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { VerificationError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import { encodeBundle, parseBundle, type SigstoreBundle } from './bundle.js';
import { keyHint, type SigningKey, type VerifyingKey } from './keys.js';
import { InTotoPayloadType, preAuthEncoding, signStatement, statementDigests } from './statement.js';

/** ECDSA signs a SHA-256 of the data (DER signature, as Sigstore and cosign write); Ed25519 the data itself. */
function hashFor(key: VerifyingKey): string | null {
  return key.type === 'ed25519' ? null : 'sha256';
}

export function signBytes(data: Buffer, key: SigningKey): Buffer {
  return cryptoSign(hashFor(key), data, key.privateKey);
}

export function verifyBytes(data: Buffer, signature: Buffer, key: VerifyingKey): boolean {
  try {
    return cryptoVerify(hashFor(key), data, key.publicKey, signature);
  } catch {
    // A malformed DER signature makes OpenSSL throw rather than say no.
    return false;
  }
}

/** A message-signature bundle for data (a part manifest), signed with key. */
export function signMessage(data: Buffer, key: SigningKey): Buffer {
  return encodeBundle({ kind: 'message', digest: sha256(data), signature: signBytes(data, key), hint: keyHint(key.publicKey) });
}

/** A DSSE bundle of cosign's signature statement for the image name whose manifest has digest. */
export function signImageDigest(name: string, digest: Digest, key: SigningKey): Buffer {
  const payload = signStatement(name, digest);
  return encodeBundle({ kind: 'dsse', payloadType: InTotoPayloadType, payload, signature: signBytes(preAuthEncoding(InTotoPayloadType, payload), key), hint: keyHint(key.publicKey) });
}

/**
 * Checks that the bundle is a signature by key over exactly data: a message
 * signature over its bytes, or (allowDsse) a DSSE statement naming its
 * digest. subject names what is checked (an image, a file); where names
 * the bundle. Returns the parsed bundle.
 */
export function verifyMessage(bundleBytes: Buffer, data: Buffer, key: VerifyingKey, subject: string, where: string, options: { allowDsse?: boolean } = {}): SigstoreBundle {
  const bundle = parseBundle(bundleBytes, where);
  verifyBundle(bundle, { bytes: data, digest: sha256(data) }, key, subject, where, options);
  return bundle;
}

/**
 * verifyMessage over a bundle already parsed and data already hashed: a
 * caller trying one bundle with several keys, or many bundles over one
 * manifest, parses and hashes each once.
 */
export function verifyBundle(bundle: SigstoreBundle, data: { bytes: Buffer; digest: Digest }, key: VerifyingKey, subject: string, where: string, options: { allowDsse?: boolean } = {}): void {
  const expected = data.digest;
  if (bundle.kind === 'dsse') {
    if (!options.allowDsse) throw new VerificationError(subject, 'malformed', `${where} holds a DSSE envelope, not a message signature over the file`);
    if (bundle.payloadType !== InTotoPayloadType) throw new VerificationError(subject, 'malformed', `${where}: DSSE payload type ${bundle.payloadType}, not ${InTotoPayloadType}`);
    // The signature first: an unsigned statement's claims are not worth reading.
    if (!verifyBytes(preAuthEncoding(bundle.payloadType, bundle.payload), bundle.signature, key)) throw signatureFailure(bundle, key, subject, where);
    const digests = statementDigests(bundle.payload, subject, where);
    if (!digests.includes(expected)) {
      throw new VerificationError(subject, 'digest-mismatch', `the signature ${where} is over ${digests.join(', ') || 'nothing'}, not ${expected} (a signature of something else)`);
    }
    return;
  }
  if (bundle.digest !== expected) {
    throw new VerificationError(subject, 'digest-mismatch', `the signature ${where} is over ${bundle.digest}, not ${expected} (a signature of something else)`);
  }
  if (!verifyBytes(data.bytes, bundle.signature, key)) throw signatureFailure(bundle, key, subject, where);
}

/** A signature that does not verify: by another key when the bundle's hint says so, else damaged or forged. */
function signatureFailure(bundle: SigstoreBundle, key: VerifyingKey, subject: string, where: string): VerificationError {
  const hint = keyHint(key.publicKey);
  if (bundle.hint !== undefined && bundle.hint !== hint) {
    return new VerificationError(subject, 'wrong-key', `signed by another key (hint ${bundle.hint}), not by ${key.path} (hint ${hint})`);
  }
  return new VerificationError(subject, 'bad-signature', `the signature ${where} does not verify with ${key.path}: ${bundle.hint === hint ? 'damaged or forged' : 'another key, or damaged'}`);
}
