/**
 * Writing one new layer into the store, the one way import and squash do it:
 *
 *   tar bytes → sha256 (diff_id) → compress → sha256 + size (digest) → blob temp file → rename
 *
 * The caller writes the tar (from an input it checks, a directory walk, or
 * merged layers) into the sink it is given; nothing is held in memory and a
 * failure anywhere leaves no blob behind.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressor } from '../compress/index.js';
import { DigestStream } from '../oci/digest.js';
import { ociLayerMediaType, type Descriptor, type Digest } from '../oci/types.js';
import type { Store } from '../store/store.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface LayerOptions {
  compression?: LayerCompression;
  level?: number;
}

export interface WrittenLayer<T> {
  layer: Descriptor;
  diffId: Digest;
  /** What writeTar resolved to. */
  produced: T;
}

/** `writeTar` must write the whole tar into the sink and end it (pipeline() does both), resolving once done. */
export async function writeLayer<T>(store: Store, options: LayerOptions, writeTar: (sink: Writable) => Promise<T>): Promise<WrittenLayer<T>> {
  const compression = options.compression ?? 'gzip';
  const diff = new DigestStream();
  const blob = store.createBlobWriter();
  try {
    const [produced] = await Promise.all([
      writeTar(diff).catch((err: unknown) => {
        // A producer that fails before ending the sink must not leave the compressing side waiting.
        diff.destroy(err as Error);
        throw err;
      }),
      pipeline(diff, createCompressor(compression, options.level === undefined ? {} : { level: options.level }), blob),
    ]);
    const layer: Descriptor = { mediaType: ociLayerMediaType(compression), ...(await blob.commit()) };
    return { layer, diffId: diff.digest, produced };
  } catch (err) {
    await blob.abort();
    throw err;
  }
}
