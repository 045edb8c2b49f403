/**
 * The Sigstore bundle (protobuf-specs sigstore_bundle.proto, v0.3, in its
 * protobuf JSON form) as rootfs writes and reads it: a message signature
 * (the SHA-256 of the signed bytes and the signature over them) with a
 * public key as verification material, named by its hint, and no
 * transparency log entry or timestamp: an air-gapped signer has neither.
 * The signature is over the bytes themselves (ECDSA P-256 with SHA-256,
 * DER-encoded, or Ed25519), as Sigstore verifiers check a message signature.
 */
import { VerificationError } from '../errors.js';
import type { Digest } from '../oci/types.js';

export const BundleMediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/**
 * Earlier versions (and v0.3 under its first name) hold a message signature
 * and a public key hint the same way; @sigstore/sign still writes v0.2 for
 * a public key. Read all of them, write v0.3.
 */
const readableMediaTypes = [BundleMediaType, 'application/vnd.dev.sigstore.bundle+json;version=0.3', 'application/vnd.dev.sigstore.bundle+json;version=0.2', 'application/vnd.dev.sigstore.bundle+json;version=0.1'];
/** Our bundles are well under 1 KiB; one from another tool with a certificate chain a few KiB. */
export const bundleSizeCap = 1024 * 1024;

export interface MessageBundle {
  /** The digest of the signed bytes (an image manifest's digest, or a part manifest's). */
  digest: Digest;
  signature: Buffer;
  /** Which key made it, as the signer named it (ours: keys.ts keyHint). */
  hint?: string;
}

export function encodeBundle(bundle: MessageBundle): Buffer {
  const document = {
    mediaType: BundleMediaType,
    verificationMaterial: {
      publicKey: bundle.hint !== undefined ? { hint: bundle.hint } : {},
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(bundle.digest.slice('sha256:'.length), 'hex').toString('base64') },
      signature: bundle.signature.toString('base64'),
    },
  };
  return Buffer.from(JSON.stringify(document), 'utf8');
}

/** Reads a bundle's message signature; anything else (a DSSE envelope, a certificate, a wrong field) is refused, naming where. */
export function parseBundle(data: Buffer, where: string): MessageBundle {
  const fail = (detail: string): never => {
    throw new VerificationError(where, 'malformed', `not a usable Sigstore bundle: ${detail}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch {
    return fail('not JSON');
  }
  if (!isObject(doc)) return fail('not a JSON object');
  if (!readableMediaTypes.includes(doc.mediaType as string)) return fail(`media type ${JSON.stringify(doc.mediaType)}, not ${BundleMediaType}`);
  const material = doc.verificationMaterial;
  if (!isObject(material)) return fail('no verificationMaterial');
  if (material.certificate !== undefined || material.x509CertificateChain !== undefined) {
    throw new VerificationError(where, 'unsupported-key', 'signed with a certificate (keyless signing): rootfs verifies public-key signatures only, offline');
  }
  if (!isObject(material.publicKey)) return fail('no verificationMaterial.publicKey');
  const hint = material.publicKey.hint;
  if (hint !== undefined && typeof hint !== 'string') return fail('publicKey.hint is not a string');
  if (doc.dsseEnvelope !== undefined) throw new VerificationError(where, 'unsupported-key', 'holds a DSSE envelope (an attestation), not a message signature');
  const message = doc.messageSignature;
  if (!isObject(message)) return fail('no messageSignature');
  const digest = message.messageDigest;
  if (!isObject(digest)) return fail('no messageSignature.messageDigest');
  if (digest.algorithm !== 'SHA2_256') return fail(`digest algorithm ${JSON.stringify(digest.algorithm)}, not SHA2_256`);
  const digestBytes = base64(digest.digest, 'messageDigest.digest', fail);
  if (digestBytes.length !== 32) return fail(`messageDigest.digest has ${digestBytes.length} bytes, not 32`);
  const signature = base64(message.signature, 'messageSignature.signature', fail);
  if (signature.length === 0) return fail('messageSignature.signature is empty');
  return { digest: `sha256:${digestBytes.toString('hex')}`, signature, ...(hint !== undefined ? { hint } : {}) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function base64(value: unknown, field: string, fail: (detail: string) => never): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return fail(`${field} is not base64`);
  return Buffer.from(value, 'base64');
}
