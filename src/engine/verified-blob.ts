/**
 * A blob's bytes checked as they flow from a source to a destination: the
 * size (a source that sends more is stopped before it fills a disk), the
 * digest and, for a layer, what it decompresses to (its diff_id) and a tar
 * whose names stay inside the root, read as its bytes say (oci/layer-media.ts).
 * Every check settles before the stream ends, so a destination that waits
 * for the end (a store renames then, a registry completes its upload then)
 * never keeps a blob that does not match.
 */
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectCompression } from '../compress/index.js';
import { DigestMismatchError, InvalidInputError } from '../errors.js';
import { LayerInspector } from '../layers/inspect.js';
import { DigestStream } from '../oci/digest.js';
import { readLayerAs } from '../oci/layer-media.js';
import { layerCompression, type Descriptor, type Digest } from '../oci/types.js';

export interface BlobChecks {
  /** Where the blob is read from, for messages ("HOST/REPO@sha256:…"). */
  where: string;
  /** Who sends the bytes, in a message: "the registry". */
  sender: string;
  /** Check what a layer (a tar media type) decompresses to: false for a source that took none unchecked (the store). */
  inspectLayer: boolean;
  /** What the layer must decompress to, from its image's config. */
  diffId?: Digest;
  onProgress?: (done: number) => void;
  /** A layer whose label its bytes contradict: said once per blob, no failure. */
  onNotice?: (message: string) => void;
}

export async function verifiedBlob(input: Readable, blob: Descriptor, checks: BlobChecks): Promise<Readable> {
  const { where } = checks;
  const counted = new DigestStream();
  const guard = new SizeGuard(blob.size, where, checks.sender, checks.onProgress);
  const sized = (): void => {
    if (counted.size !== blob.size) throw new InvalidInputError(where, `size ${counted.size} does not match the expected size ${blob.size}`);
    if (counted.digest !== blob.digest) throw new DigestMismatchError(where, blob.digest, counted.digest);
  };
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  if (!checks.inspectLayer || layerCompression(blob.mediaType) === undefined) {
    pipeline(input, guard, counted, new Gate(async () => sized()), out).catch((err: unknown) => out.destroy(err as Error));
    return out;
  }
  const { compression, stream } = await detectCompression(input);
  const inspector = new LayerInspector(compression, where);
  const gate = new Gate(async () => {
    // The bytes themselves first: a digest mismatch, the root cause, is what gets reported.
    sized();
    await inspector.done;
    const facts = inspector.facts(blob.digest);
    if (checks.diffId !== undefined && facts.diffId !== checks.diffId) throw new InvalidInputError(where, `diff_id ${facts.diffId} does not match the config's ${checks.diffId}`);
    if (facts.notALayer) throw facts.notALayer;
    const { warning } = readLayerAs(blob, compression);
    if (warning !== undefined) checks.onNotice?.(warning);
  });
  pipeline(stream, guard, counted, inspector.tap, gate, out).catch((err: unknown) => {
    inspector.abort();
    out.destroy(err as Error);
  });
  return out;
}

/** Counts bytes for progress, and stops a source that sends more than the descriptor's size. */
class SizeGuard extends Transform {
  private done = 0;

  constructor(private readonly size: number, private readonly where: string, private readonly sender: string, private readonly onProgress?: (done: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.done += chunk.length;
    if (this.done > this.size) {
      callback(new InvalidInputError(this.where, `${this.sender} sent more than the descriptor's size ${this.size}`));
      return;
    }
    this.onProgress?.(this.done);
    callback(null, chunk);
  }
}

/** Passes bytes on, and runs a check before it ends: a failed check fails the stream instead of ending it. */
class Gate extends Transform {
  constructor(private readonly check: () => Promise<void>) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.check().then(() => callback(), (err: unknown) => callback(err as Error));
  }
}
