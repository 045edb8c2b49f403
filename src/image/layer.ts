/**
 * A layer tar into the store, the one way every command writes a layer:
 * tar → [checks] → sha256 (diff_id) → compress → sha256 + size (digest) →
 * blob temp file → rename. One pass; nothing is held in memory.
 */
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressor } from '../compress/index.js';
import { Tap } from '../io/streams.js';
import { DigestStream } from '../oci/digest.js';
import { ociLayerMediaType, type Descriptor, type Digest } from '../oci/types.js';
import type { Store } from '../store/store.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface LayerOptions {
  compression?: LayerCompression;
  level?: number;
  /** Called with the compressed bytes written so far, for progress. */
  onWritten?: (bytes: number) => void;
}

export interface StoredLayer {
  layer: Descriptor;
  diffId: Digest;
}

/** `checks` see the uncompressed tar before it is hashed (import's TarValidator). */
export async function storeLayer(store: Store, tar: Readable, options: LayerOptions, checks: Transform[] = []): Promise<StoredLayer> {
  const compression = options.compression ?? 'gzip';
  const diff = new DigestStream();
  const blob = store.createBlobWriter();
  let written = 0;
  const counted = options.onWritten ? [new Tap((chunk) => options.onWritten!((written += chunk.length)))] : [];
  try {
    await pipeline([tar, ...checks, diff, createCompressor(compression, options.level === undefined ? {} : { level: options.level }), ...counted, blob]);
    const committed = await blob.commit();
    return { layer: { mediaType: ociLayerMediaType(compression), digest: committed.digest, size: committed.size }, diffId: diff.digest };
  } catch (err) {
    await blob.abort();
    throw err;
  }
}
