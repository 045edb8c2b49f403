/**
 * The OCI image layout's fixed parts, shared by the store, save and load:
 * the version every layout we write declares, where a blob lives in one, and
 * how deep indexes may nest before a reader refuses (a hostile index could
 * otherwise recurse without end).
 */
import { digestHex } from './digest.js';
import type { Digest } from './types.js';

/** The oci-layout file's imageLayoutVersion in every layout and store we write. */
export const imageLayoutVersion = '1.0.0';

/** Indexes nested deeper than this are refused by every walk of an image graph. */
export const maxIndexDepth = 8;

/** A blob's path inside a layout (directory or archive member). */
export function blobMemberName(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}
