/**
 * `rootfs export`: an image's merged root filesystem (this machine's
 * platform) as one plain tar, what import takes back. Two passes: every
 * layer is read to plan the merge, then the merged tree is written.
 */
import { pipeline } from 'node:stream/promises';
import { outputError, writeFileFromStream, type OutputTarget } from '../io/output.js';
import { flattenToTar, type FlattenOptions } from '../layers/flatten.js';
import type { Digest } from '../oci/types.js';
import { resolveImage } from '../store/resolve.js';
import type { Store } from '../store/store.js';

export interface ExportResult {
  /** The image ID. */
  id: Digest;
  layers: number;
  /** Bytes of tar written. */
  bytes: number;
}

export async function exportImage(store: Store, ref: string, output: OutputTarget, events: Omit<FlattenOptions, 'where'> = {}): Promise<ExportResult> {
  const image = await resolveImage(store, ref);
  const layers = image.manifest.layers;
  let bytes = 0;
  async function* flatten(): AsyncGenerator<Buffer> {
    for await (const chunk of flattenToTar(store, layers, { ...events, where: ref }) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      yield chunk;
    }
  }
  if (typeof output === 'string') await writeFileFromStream(output, flatten);
  else await pipeline(flatten(), output.stream, { end: false }).catch(outputError(output.name));
  return { id: image.manifest.config.digest, layers: layers.length, bytes };
}
