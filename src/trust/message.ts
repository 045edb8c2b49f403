/**
 * Signing bytes into a Sigstore bundle and checking one against the bytes
 * and a trusted key: the one check images and part manifests both go
 * through, each failure its own VerificationError.
 */
import { sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { VerificationError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import { encodeBundle, parseBundle, type MessageBundle } from './bundle.js';
import { keyHint, type SigningKey, type VerifyingKey } from './keys.js';

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

/** The bundle for data, signed with key. */
export function signMessage(data: Buffer, key: SigningKey): Buffer {
  return encodeBundle({ digest: sha256(data), signature: signBytes(data, key), hint: keyHint(key.publicKey) });
}

/**
 * Checks that the bundle is a signature by key over exactly data. subject
 * names what is checked (an image, a file); where names the bundle.
 * Returns the parsed bundle.
 */
export function verifyMessage(bundleBytes: Buffer, data: Buffer, key: VerifyingKey, subject: string, where: string): MessageBundle {
  const bundle = parseBundle(bundleBytes, where);
  const expected = sha256(data);
  if (bundle.digest !== expected) {
    throw new VerificationError(subject, 'digest-mismatch', `the signature ${where} is over ${bundle.digest}, not ${expected} (a signature of something else)`);
  }
  if (verifyBytes(data, bundle.signature, key)) return bundle;
  const hint = keyHint(key.publicKey);
  if (bundle.hint !== undefined && bundle.hint !== hint) {
    throw new VerificationError(subject, 'wrong-key', `signed by another key (hint ${bundle.hint}), not by ${key.path} (hint ${hint})`);
  }
  throw new VerificationError(subject, 'bad-signature', `the signature ${where} does not verify with ${key.path}: ${bundle.hint === hint ? 'damaged or forged' : 'another key, or damaged'}`);
}
