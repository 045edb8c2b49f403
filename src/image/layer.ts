/**
 * Writing one new layer into the store, the one way every command does it:
 *
 *   tar bytes → sha256 (diff_id) → compress → sha256 + size (digest) → blob temp file → rename
 *
 * The caller writes the tar (from an input it checks, a directory walk, or
 * merged layers) into the sink it is given; nothing is held in memory and a
 * failure anywhere leaves no blob behind.
 */
import type { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressorRecipe, createRecipeCompressor, layerRecipeAnnotations } from '../compress/index.js';
import { Tap } from '../io/streams.js';
import { DigestStream } from '../oci/digest.js';
import { ociLayerMediaType, type Descriptor, type Digest } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { TarValidator, type TarWatcher } from '../tar/reader.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface LayerOptions {
  compression?: LayerCompression;
  level?: number;
  /** Called with the compressed bytes written so far, for progress. */
  onWritten?: (bytes: number) => void;
  /**
   * Hears the tar as it goes into the layer (the SBOM's package-database tap,
   * src/sbom/collect.ts). A caller that parses the tar anyway (import's
   * TarValidator) feeds it from that parse instead, and leaves this unset.
   */
  observe?: TarWatcher;
}

export interface StoredLayer {
  layer: Descriptor;
  diffId: Digest;
}

export interface WrittenLayer<T> extends StoredLayer {
  /** What writeTar resolved to. */
  produced: T;
}

/** `writeTar` must write the whole tar into the sink and end it (pipeline() does both), resolving once done. */
export async function writeLayer<T>(store: Store, options: LayerOptions, writeTar: (sink: Writable) => Promise<T>): Promise<WrittenLayer<T>> {
  const compression = options.compression ?? 'gzip';
  const recipe = compressorRecipe(compression, options.level);
  const diff = new DigestStream();
  const blob = store.createBlobWriter();
  let written = 0;
  const counted = options.onWritten ? [new Tap((chunk) => options.onWritten!((written += chunk.length)))] : [];
  try {
    const [produced] = await Promise.all([
      writeTar(diff).catch((err: unknown) => {
        // A producer that fails before ending the sink must not leave the compressing side waiting.
        diff.destroy(err as Error);
        throw err;
      }),
      pipeline([diff, ...(options.observe ? [new TarValidator('the layer being written', (entry) => options.observe!.entry(entry), options.observe)] : []), createRecipeCompressor(recipe)!, ...counted, blob]),
    ]);
    // The recipe goes with the blob so that a site holding only the tar can rebuild these exact bytes (docs/compression.md).
    const layer: Descriptor = { mediaType: ociLayerMediaType(compression), ...(await blob.commit()), ...(compression === 'none' ? {} : { annotations: layerRecipeAnnotations(recipe) }) };
    return { layer, diffId: diff.digest, produced };
  } catch (err) {
    await blob.abort();
    throw err;
  }
}

/** writeLayer for a tar that is already a stream; `checks` see it before it is hashed (import's TarValidator). */
export async function storeLayer(store: Store, tar: Readable, options: LayerOptions, checks: Transform[] = []): Promise<StoredLayer> {
  const { layer, diffId } = await writeLayer(store, options, (sink) => pipeline([tar, ...checks, sink]));
  return { layer, diffId };
}
