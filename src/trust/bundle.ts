/**
 * The Sigstore bundle (protobuf-specs sigstore_bundle.proto, v0.3, in its
 * protobuf JSON form) as rootfs writes and reads it, with a public key as
 * verification material, named by its hint, and no transparency log entry
 * or timestamp: an air-gapped signer has neither. Its content is one of:
 *   a message signature: the SHA-256 of the signed bytes and a signature
 *     over the bytes themselves (what cosign sign-blob writes; part sets);
 *   a DSSE envelope: a payload (an in-toto statement) and a signature over
 *     its DSSE pre-authentication encoding (what cosign v3 sign writes for
 *     an image).
 * Signatures are ECDSA P-256 with SHA-256, DER-encoded, or Ed25519.
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

interface BundleCommon {
  /** Which key made it, as the signer named it (ours: keys.ts keyHint). */
  hint?: string;
  signature: Buffer;
}

export interface MessageBundle extends BundleCommon {
  kind: 'message';
  /** The digest of the signed bytes (an image manifest's digest, or a part manifest's). */
  digest: Digest;
}

export interface DsseBundle extends BundleCommon {
  kind: 'dsse';
  payloadType: string;
  payload: Buffer;
}

export type SigstoreBundle = MessageBundle | DsseBundle;

export function encodeBundle(bundle: SigstoreBundle): Buffer {
  const content =
    bundle.kind === 'message'
      ? {
          messageSignature: {
            messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(bundle.digest.slice('sha256:'.length), 'hex').toString('base64') },
            signature: bundle.signature.toString('base64'),
          },
        }
      : { dsseEnvelope: { payload: bundle.payload.toString('base64'), payloadType: bundle.payloadType, signatures: [{ sig: bundle.signature.toString('base64'), keyid: '' }] } };
  const document = {
    mediaType: BundleMediaType,
    verificationMaterial: {
      publicKey: bundle.hint !== undefined ? { hint: bundle.hint } : {},
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    ...content,
  };
  return Buffer.from(JSON.stringify(document), 'utf8');
}

/** Reads a bundle's signature and what it is over; anything else (a certificate, a wrong field) is refused, naming where. */
export function parseBundle(data: Buffer, where: string): SigstoreBundle {
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
  const named = hint !== undefined ? { hint } : {};
  if (doc.dsseEnvelope !== undefined) {
    const envelope = doc.dsseEnvelope;
    if (!isObject(envelope)) return fail('dsseEnvelope is not an object');
    if (typeof envelope.payloadType !== 'string') return fail('dsseEnvelope.payloadType is not a string');
    const payload = base64(envelope.payload, 'dsseEnvelope.payload', fail);
    const signatures = envelope.signatures;
    if (!Array.isArray(signatures) || signatures.length !== 1 || !isObject(signatures[0])) return fail('dsseEnvelope.signatures does not hold exactly one signature');
    const signature = base64(signatures[0].sig, 'dsseEnvelope.signatures[0].sig', fail);
    if (signature.length === 0) return fail('the DSSE signature is empty');
    return { kind: 'dsse', payloadType: envelope.payloadType, payload, signature, ...named };
  }
  const message = doc.messageSignature;
  if (!isObject(message)) return fail('neither messageSignature nor dsseEnvelope');
  const digest = message.messageDigest;
  if (!isObject(digest)) return fail('no messageSignature.messageDigest');
  if (digest.algorithm !== 'SHA2_256') return fail(`digest algorithm ${JSON.stringify(digest.algorithm)}, not SHA2_256`);
  const digestBytes = base64(digest.digest, 'messageDigest.digest', fail);
  if (digestBytes.length !== 32) return fail(`messageDigest.digest has ${digestBytes.length} bytes, not 32`);
  const signature = base64(message.signature, 'messageSignature.signature', fail);
  if (signature.length === 0) return fail('messageSignature.signature is empty');
  return { kind: 'message', digest: `sha256:${digestBytes.toString('hex')}`, signature, ...named };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function base64(value: unknown, field: string, fail: (detail: string) => never): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return fail(`${field} is not base64`);
  return Buffer.from(value, 'base64');
}
