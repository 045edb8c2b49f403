/**
 * What a load or pull has verified but not yet committed: the hook a caller
 * gets between the two (`beforeNames`), so that a policy (`--require-signed`)
 * can read the staged signatures and refuse before any blob takes its name
 * in the store or any tag moves, leaving the store as it was.
 */
import { DigestMismatchError, InvalidInputError, NotFoundError } from '../errors.js';
import { documentCaps, readMetadata } from '../io/metadata.js';
import { sha256 } from '../oci/digest.js';
import type { Descriptor, Digest } from '../oci/types.js';

export interface StagedImage {
  /** Familiar names it will be given ("base:latest"); empty for an untagged image. */
  tags: string[];
  /** Config digest (docker's image ID), or an index's own digest. */
  id: Digest;
  /** Its manifest or index; undefined for a classic docker-archive image, which has no manifest until the store makes one (so nothing can refer to it). */
  descriptor: Descriptor | undefined;
}

export interface StagedReferrer {
  /** The manifest or index it refers to. */
  subject: Digest;
  descriptor: Descriptor;
}

export interface StagedImages {
  images: StagedImage[];
  referrers: StagedReferrer[];
  /** A staged (or already stored) small blob, read back bounded (documentCaps.image: signatures, SBOM manifests and configs are small JSON documents) and checked against its digest. */
  readBlob(digest: Digest): Promise<Buffer>;
}

/** The store's trust policy file (src/trust/policy.ts reads it; docs/trust.md), in the store directory. */
export const policyFileName = 'policy.json';

/** Called after every blob is verified and before any is committed or named; a throw aborts the command with nothing changed. */
export type BeforeNames = (staged: StagedImages) => Promise<void>;


/** Reads a staged blob's file (a temp file or the store's blob), bounded, and holds it to its digest. */
export async function readStagedBlob(path: string | undefined, digest: Digest): Promise<Buffer> {
  if (path === undefined) throw new NotFoundError(`blob ${digest} is neither staged nor in the store`);
  const bytes = await readMetadata(path, 'image', 'a small document (a signature, an SBOM manifest, a config)');
  const actual = sha256(bytes);
  if (actual !== digest) throw new DigestMismatchError(path, digest, actual);
  return bytes;
}

/** A staged document held in memory (a pulled manifest or config), under the same bound and check as one on disk. */
export function stagedBytes(bytes: Buffer, digest: Digest, where: string): Buffer {
  if (bytes.length > documentCaps.image) throw new InvalidInputError(where, `larger than ${documentCaps.image} bytes: not a small document (a signature, an SBOM manifest, a config)`);
  const actual = sha256(bytes);
  if (actual !== digest) throw new DigestMismatchError(where, digest, actual);
  return bytes;
}
