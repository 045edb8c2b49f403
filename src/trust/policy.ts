/**
 * What the store requires of images that come in (load, pull, copy into
 * the store): a signature by one of some trusted keys over each image's
 * manifest or index, checked over what load or pull has staged before any
 * name is given (store/staged.ts), so a refusal leaves the store as it was.
 *
 * The keys come from `--require-signed PUB[,PUB…]` and from the store's
 * policy file, `policy.json` in the store directory (docs/trust.md):
 *
 *     { "version": 1, "requireSigned": ["/etc/rootfs/keys/site-a.pub"], "revokedKeys": ["<key hint>"] }
 *
 * The file fails closed: a key it does not know (a typo such as
 * "requiresigned" would otherwise be a policy that requires nothing), a
 * wrong type, an empty requireSigned, a missing version or a key file that
 * cannot be read refuses every load, pull and copy into the store (exit 3)
 * instead of letting images in unchecked.
 *
 * A revoked key (by its hint: base64 SHA-256 of its SPKI, as `rootfs
 * verify --json` and the bundles show it) is never trusted, whoever names it.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { InvalidInputError, RootfsError, UsageError, VerificationError, printable } from '../errors.js';
import { isMissing, pathExists, readMetadata } from '../io/metadata.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { parseJson } from '../oci/validate.js';
import { sbomMediaTypes } from '../sbom/media-types.js';
import { policyFileName, type BeforeNames, type StagedImages } from '../store/staged.js';
import { keyHint, readVerifyingKey, type VerifyingKey } from './keys.js';
import { verifyImageSignature, type BlobSource, type VerifiedImage } from './verify.js';

export interface TrustPolicy {
  /** Where it came from, for messages: the policy file, or the flag. */
  sources: string[];
  keys: VerifyingKey[];
}

/** The one version of policy.json this code reads; a file without it predates the schema and is refused, not guessed at. */
const policyVersion = 1;
const policyFields = ['version', 'requireSigned', 'revokedKeys'] as const;
/** A key hint: base64 of a SHA-256 (32 bytes). */
const hintPattern = /^[A-Za-z0-9+/]{43}=$/;

export interface PolicyFile {
  path: string;
  /** The trusted key files, made absolute (relative ones are relative to the policy file's directory). */
  keys: string[];
  revoked: string[];
}

/** The store's policy file, if it has one, checked whole: every field known and of its type (docs/trust.md). */
export async function readPolicyFile(storeDir: string): Promise<PolicyFile | undefined> {
  const path = join(storeDir, policyFileName);
  const refuse = (detail: string): never => {
    throw new InvalidInputError(path, `${detail}; nothing comes into this store until it is fixed (docs/trust.md: { "version": ${policyVersion}, "requireSigned": [PUB, …], "revokedKeys": [HINT, …] })`);
  };
  // Absent is no policy; a symbolic link to nothing (a configuration not mounted, say) is a policy that cannot be read.
  if (!(await pathExists(path))) return undefined;
  let bytes: Buffer;
  try {
    bytes = await readMetadata(path, 'settings', 'a policy file');
  } catch (err) {
    if (isMissing(err)) return refuse('a symbolic link to nothing');
    throw err;
  }
  const value = parseJson(bytes.toString('utf8'), path) as Record<string, unknown> | null;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return refuse('not a policy (a JSON object)');
  const unknown = Object.keys(value).filter((field) => !(policyFields as readonly string[]).includes(field));
  if (unknown.length > 0) return refuse(`unknown ${unknown.length === 1 ? 'key' : 'keys'} ${unknown.map((field) => JSON.stringify(field)).join(', ')} (the keys are ${policyFields.join(', ')})`);
  if (value.version === undefined) return refuse(`no "version": add "version": ${policyVersion} (the schema this rootfs reads)`);
  if (value.version !== policyVersion) return refuse(`"version": ${JSON.stringify(value.version)}, not ${policyVersion}, the one this rootfs reads`);
  const strings = (field: 'requireSigned' | 'revokedKeys'): string[] => {
    const list = value[field];
    if (list === undefined) return [];
    if (!Array.isArray(list)) return refuse(`"${field}" must be a list of strings, not ${typeName(list)}`);
    const bad = list.findIndex((item) => typeof item !== 'string' || item === '');
    if (bad >= 0) return refuse(`"${field}"[${bad}] must be a non-empty string, not ${typeName(list[bad])}`);
    return list as string[];
  };
  const required = strings('requireSigned');
  if (required.length === 0) return refuse(`"requireSigned" ${value.requireSigned === undefined ? 'is missing' : 'is empty'}: a policy names the keys it trusts (to require nothing, remove the file)`);
  const revoked = strings('revokedKeys');
  const badHint = revoked.findIndex((hint) => !hintPattern.test(hint));
  if (badHint >= 0) return refuse(`"revokedKeys"[${badHint}] is not a key hint (base64 of a SHA-256, as rootfs verify --json shows it): ${JSON.stringify(revoked[badHint])}`);
  const keys = required.map((file) => (isAbsolute(file) ? file : join(dirname(path), file)));
  return { path, keys, revoked };
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `${typeof value} ${printable(JSON.stringify(value)).slice(0, 40)}`;
}

/**
 * The policy in force: the keys of --require-signed (files) and of the
 * store's policy file (storeDir: where images come into a store), less the
 * revoked ones. Undefined when neither asks for signatures. A key the flag
 * names that the policy revokes is a usage error, not silently dropped; a
 * key the policy names that cannot be read is the policy's fault (exit 3),
 * said with the file that named it.
 */
export async function trustPolicy(storeDir: string | undefined, flagKeys: string[]): Promise<TrustPolicy | undefined> {
  const file = storeDir === undefined ? undefined : await readPolicyFile(storeDir);
  if (flagKeys.length === 0 && !file) return undefined;
  const revoked = new Set(file?.revoked ?? []);
  const keys: VerifyingKey[] = [];
  for (const path of flagKeys) {
    const key = await readVerifyingKey(path);
    if (revoked.has(keyHint(key.publicKey))) throw new UsageError(`${path}: this key is revoked by ${file!.path}`);
    keys.push(key);
  }
  let trusted = 0;
  for (const path of file?.keys ?? []) {
    const key = await policyKey(path, file!.path);
    if (revoked.has(keyHint(key.publicKey))) continue;
    keys.push(key);
    trusted++;
  }
  if (file && trusted === 0 && flagKeys.length === 0) throw new InvalidInputError(file.path, 'every key in "requireSigned" is revoked by "revokedKeys": nothing could come in');
  return { sources: [...(flagKeys.length > 0 ? ['--require-signed'] : []), ...(file ? [file.path] : [])], keys };
}

/** A key the policy file names: any failure to read it is bad input (exit 3) naming the key and the policy, whatever the cause. */
async function policyKey(path: string, policyPath: string): Promise<VerifyingKey> {
  try {
    return await readVerifyingKey(path);
  } catch (err) {
    if (!(err instanceof RootfsError)) throw err;
    const prefix = `${printable(path)}: `;
    const detail = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    throw new InvalidInputError(`${path} (named by ${policyPath})`, detail, { cause: err });
  }
}

/**
 * The beforeNames hook of a policy: every staged image must carry a
 * signature by one of its keys over exactly the manifest or index it will
 * be named by, and every SBOM referrer that comes with them a signature of
 * its own. onVerified hears of each image and SBOM that passed.
 */
export function requireSigned(policy: TrustPolicy, onVerified?: (verified: VerifiedImage) => void): BeforeNames {
  return async (staged: StagedImages) => {
    const source = stagedSource(staged);
    // Grouped once: a scan of every referrer per image would be quadratic in what a medium lists.
    const bySubject = new Map<Digest, Descriptor[]>();
    for (const { subject, descriptor } of staged.referrers) {
      const listed = bySubject.get(subject);
      if (listed) listed.push(descriptor);
      else bySubject.set(subject, [descriptor]);
    }
    for (const image of staged.images) {
      const name = image.tags[0] ?? image.id;
      if (staged.manifestsMadeHere) throw new VerificationError(name, 'unsigned', 'no signature: a classic docker archive (docker-legacy) cannot carry one; save it as docker-archive or oci-archive');
      const subject: Descriptor = { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.descriptor.size };
      // load and pull have checked every blob's digest as it came in: the signature is what is left to check.
      onVerified?.(await verifyImageSignature(source, name, subject, bySubject.get(subject.digest) ?? [], policy.keys, { content: false }));
    }
    // An SBOM that comes in is vouched for as its image is, by its own signature (rootfs sign signs an image's SBOMs with it).
    for (const sbom of staged.referrers.filter((referrer) => sbomMediaTypes.includes(referrer.descriptor.artifactType ?? ''))) {
      const image = staged.images.find((candidate) => candidate.descriptor.digest === sbom.subject);
      const name = `${image ? (image.tags[0] ?? image.id) : sbom.subject}: SBOM ${sbom.descriptor.digest}`;
      const subject: Descriptor = { mediaType: sbom.descriptor.mediaType, digest: sbom.descriptor.digest, size: sbom.descriptor.size };
      const referrers = staged.referrers.filter((referrer) => referrer.subject === subject.digest).map((referrer) => referrer.descriptor);
      onVerified?.(await verifyImageSignature(source, name, subject, referrers, policy.keys, { content: false }));
    }
  };
}

/** The staged documents as the verify core reads blobs; it asks only for small documents (content: false). */
function stagedSource(staged: StagedImages): BlobSource {
  return {
    async readBlob(digest: Digest, size?: number) {
      const bytes = await staged.readBlob(digest);
      if (size !== undefined && bytes.length !== size) throw new InvalidInputError(`blob ${digest}`, `${bytes.length} bytes, not the ${size} its descriptor gives`);
      return bytes;
    },
    openBlob() {
      throw new Error('a staged image is verified without reading its layers');
    },
  };
}
