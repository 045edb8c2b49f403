/**
 * A blob's bytes checked as they flow from a source to a destination: the
 * size (a source that sends more is stopped before it fills a disk), the
 * digest and, for a layer, what it decompresses to (its diff_id) and a tar
 * whose names stay inside the root, read as its bytes say (oci/layer-media.ts).
 * Every check settles before the stream ends, so a destination that waits
 * for the end (a store renames then, a registry completes its upload then)
 * never keeps a blob that does not match.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectCompression } from '../compress/index.js';
import { DigestMismatchError, InvalidInputError } from '../errors.js';
import { LayerInspector } from '../layers/inspect.js';
import { readLayerAs } from '../oci/layer-media.js';
import type { InspectedBlob } from '../oci/image-ends.js';
import { layerCompression, type Descriptor, type Digest } from '../oci/types.js';

/** What a layer must decompress to: its image's config says so at rootfs.diff_ids[position]. */
export interface ExpectedDiffId {
  digest: Digest;
  position: number;
  config: Digest;
}

export interface BlobChecks {
  /** Where the blob is read from, for messages ("HOST/REPO@sha256:…"). */
  where: string;
  /** Who sends the bytes, in a message: "the registry". */
  sender: string;
  /** Check what a layer (a tar media type) decompresses to: false for a source that took none unchecked (the store). */
  inspectLayer: boolean;
  diffId?: ExpectedDiffId;
  onProgress?: (done: number) => void;
  /** A layer whose label its bytes contradict: said once per blob, no failure. */
  onNotice?: (message: string) => void;
}

export async function verifiedBlob(input: Readable, blob: Descriptor, checks: BlobChecks): Promise<Readable> {
  const { where } = checks;
  if (!checks.inspectLayer || layerCompression(blob.mediaType) === undefined) {
    const check = new BlobCheck(blob, checks, async () => {});
    pipeline(input, check).catch(() => {}); // the error is check's own, which its reader sees
    return check;
  }
  const { compression, stream } = await detectCompression(input);
  const inspector = new LayerInspector(compression, where);
  // After the inspector's tap, so that its findings are complete when the check at the end runs.
  const check = new BlobCheck(blob, checks, async () => {
    await inspector.done;
    checkLayer(blob, { compression, ...inspector.facts(blob.digest) }, checks);
  });
  pipeline(stream, inspector.tap, check).catch(() => inspector.abort());
  return check;
}

/**
 * What a layer decompresses to against its config's diff_id, a tar inside
 * the root, and its label against its bytes (said, never a failure): after
 * the bytes as they flow, or from what a source learnt of them as it took
 * them in (an archive).
 */
export function checkLayer(blob: Descriptor, facts: Omit<InspectedBlob, 'size'>, checks: Pick<BlobChecks, 'where' | 'diffId' | 'onNotice'>): void {
  if (checks.diffId !== undefined && facts.diffId !== checks.diffId.digest) throw new InvalidInputError(checks.where, `diff_id ${facts.diffId} does not match rootfs.diff_ids[${checks.diffId.position}] ${checks.diffId.digest} of config ${checks.diffId.config}`);
  if (facts.notALayer) throw facts.notALayer;
  const { warning } = readLayerAs(blob, facts.compression);
  if (warning !== undefined) checks.onNotice?.(warning);
}

/**
 * One stage for every check of the bytes themselves (each stage of a stream
 * holds a chunk or two, and a blob's chunks are a MiB): counts them for
 * progress, stops a source that sends more than the descriptor's size,
 * hashes them, and at the end checks size and digest, then `more` (what a
 * layer decompressed to): a failed check fails the stream instead of ending it.
 */
class BlobCheck extends Transform {
  private readonly hash = createHash('sha256');
  private done = 0;

  constructor(private readonly blob: Descriptor, private readonly checks: BlobChecks, private readonly more: () => Promise<void>) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.done += chunk.length;
    if (this.done > this.blob.size) {
      callback(new InvalidInputError(this.checks.where, `${this.checks.sender} sent more than the descriptor's size ${this.blob.size}`));
      return;
    }
    this.hash.update(chunk);
    this.checks.onProgress?.(this.done);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    // The bytes themselves first: a digest mismatch, the root cause, is what gets reported.
    if (this.done !== this.blob.size) return callback(new InvalidInputError(this.checks.where, `size ${this.done} does not match the expected size ${this.blob.size}`));
    const digest: Digest = `sha256:${this.hash.digest('hex')}`;
    if (digest !== this.blob.digest) return callback(new DigestMismatchError(this.checks.where, this.blob.digest, digest));
    this.more().then(() => callback(), (err: unknown) => callback(err as Error));
  }
}
