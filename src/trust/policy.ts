/**
 * What the store requires of images that come in (load, pull, copy into
 * the store): a signature by one of some trusted keys over each image's
 * manifest or index, checked over what load or pull has staged before any
 * name is given (store/staged.ts), so a refusal leaves the store as it was.
 *
 * The keys come from `--require-signed PUB[,PUB…]` and from the store's
 * policy file, `policy.json` in the store directory (docs/trust.md):
 *
 *     { "requireSigned": ["/etc/rootfs/keys/site-a.pub"], "revokedKeys": ["<key hint>"] }
 *
 * A revoked key (by its hint: base64 SHA-256 of its SPKI, as `rootfs
 * verify --json` and the bundles show it) is never trusted, whoever names it.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { InvalidInputError, UsageError, VerificationError } from '../errors.js';
import { metadataSizeCap, readMetadataIfExists } from '../io/metadata.js';
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

/** The store's policy file, if it has one: its trusted keys (paths relative to the file) and revoked key hints. */
export async function readPolicyFile(storeDir: string): Promise<{ path: string; keys: string[]; revoked: string[] } | undefined> {
  const path = join(storeDir, policyFileName);
  const bytes = await readMetadataIfExists(path, metadataSizeCap, 'a policy file');
  if (!bytes) return undefined;
  const value = parseJson(bytes.toString('utf8'), path) as { requireSigned?: unknown; revokedKeys?: unknown } | null;
  const strings = (field: unknown, name: string): string[] => {
    if (field === undefined) return [];
    if (!Array.isArray(field) || !field.every((item) => typeof item === 'string' && item !== '')) throw new InvalidInputError(path, `${name} must be a list of strings`);
    return field as string[];
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError(path, 'not a policy (a JSON object with requireSigned and revokedKeys)');
  const keys = strings(value.requireSigned, 'requireSigned').map((file) => (isAbsolute(file) ? file : join(dirname(path), file)));
  return { path, keys, revoked: strings(value.revokedKeys, 'revokedKeys') };
}

/**
 * The policy in force: the keys of --require-signed (files) and of the
 * store's policy file (storeDir: where images come into a store), less the revoked ones. Undefined when neither asks
 * for signatures. A key the flag names that the policy revokes is a usage
 * error, not silently dropped.
 */
export async function trustPolicy(storeDir: string | undefined, flagKeys: string[]): Promise<TrustPolicy | undefined> {
  const file = storeDir === undefined ? undefined : await readPolicyFile(storeDir);
  const files = [...flagKeys, ...(file?.keys ?? [])];
  if (files.length === 0) return undefined;
  const revoked = new Set(file?.revoked ?? []);
  const keys: VerifyingKey[] = [];
  for (const path of files) {
    const key = await readVerifyingKey(path);
    if (revoked.has(keyHint(key.publicKey))) {
      if (flagKeys.includes(path)) throw new UsageError(`${path}: this key is revoked by ${file!.path}`);
      continue;
    }
    keys.push(key);
  }
  if (keys.length === 0) throw new UsageError(`${file!.path}: every key it trusts is revoked; nothing could be loaded`);
  return { sources: [...(flagKeys.length > 0 ? ['--require-signed'] : []), ...(file?.keys.length ? [file.path] : [])], keys };
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
    for (const image of staged.images) {
      const name = image.tags[0] ?? image.id;
      if (!image.descriptor) throw new VerificationError(name, 'unsigned', 'no signature: a classic docker archive (docker-legacy) cannot carry one; save it as docker-archive or oci-archive');
      const subject: Descriptor = { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.descriptor.size };
      const referrers = staged.referrers.filter((referrer) => referrer.subject === subject.digest).map((referrer) => referrer.descriptor);
      // load and pull have checked every blob's digest as it came in: the signature is what is left to check.
      onVerified?.(await verifyImageSignature(source, name, subject, referrers, policy.keys, { content: false }));
    }
    // An SBOM that comes in is vouched for as its image is, by its own signature (rootfs sign signs an image's SBOMs with it).
    for (const sbom of staged.referrers.filter((referrer) => sbomMediaTypes.includes(referrer.descriptor.artifactType ?? ''))) {
      const image = staged.images.find((candidate) => candidate.descriptor?.digest === sbom.subject);
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
