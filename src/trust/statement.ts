/**
 * What cosign v3 signs for an image: an in-toto Statement v1 whose subject
 * is the image's manifest digest and whose predicate type is cosign's
 * "sign" (an empty predicate: the statement is the signature), wrapped in a
 * DSSE envelope, whose signature covers the pre-authentication encoding
 * (PAE) of payload type and payload, so neither can be swapped alone.
 */
import { VerificationError } from '../errors.js';
import type { Digest } from '../oci/types.js';

export const InTotoPayloadType = 'application/vnd.in-toto+json';
export const CosignSignPredicate = 'https://sigstore.dev/cosign/sign/v1';
const statementType = 'https://in-toto.io/Statement/v1';

/** DSSE v1 PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes as ASCII decimals. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export function signStatement(name: string, digest: Digest): Buffer {
  const statement = {
    _type: statementType,
    subject: [{ name, digest: { sha256: digest.slice('sha256:'.length) } }],
    predicateType: CosignSignPredicate,
    predicate: {},
  };
  return Buffer.from(JSON.stringify(statement), 'utf8');
}

/** The sha256 digests a signed statement's subjects name; refuses what is not a cosign signature statement. */
export function statementDigests(payload: Buffer, subject: string, where: string): Digest[] {
  const fail = (detail: string): never => {
    throw new VerificationError(subject, 'malformed', `the statement in ${where} ${detail}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return fail('is not JSON');
  }
  if (typeof doc !== 'object' || doc === null) return fail('is not a JSON object');
  const statement = doc as Record<string, unknown>;
  if (statement._type !== statementType && statement._type !== 'https://in-toto.io/Statement/v0.1') return fail(`has _type ${JSON.stringify(statement._type)}, not an in-toto statement`);
  if (statement.predicateType !== CosignSignPredicate) {
    throw new VerificationError(subject, 'unsupported-key', `${where} is an attestation (${JSON.stringify(statement.predicateType)}), not a signature (${CosignSignPredicate})`);
  }
  if (!Array.isArray(statement.subject)) return fail('has no subject list');
  return statement.subject.flatMap((entry: unknown) => {
    const hex = (entry as { digest?: { sha256?: unknown } } | null)?.digest?.sha256;
    return typeof hex === 'string' && /^[a-f0-9]{64}$/.test(hex) ? [`sha256:${hex}` as Digest] : [];
  });
}
