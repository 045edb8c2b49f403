/** A stored layer blob as tar members: verified as read, decompressed as its bytes say. */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createDecompressor, detectCompression, type Compression } from '../compress/index.js';
import { Tap } from '../io/streams.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { readLayerAs } from '../oci/layer-media.js';
import type { Store } from '../store/store.js';
import { readTar, type TarMember } from '../tar/reader.js';

/**
 * The members of one layer. A blob whose bytes do not match its digest fails
 * the iteration (at the latest when its end is reached), so nothing read
 * from a damaged blob is taken as complete. `onRead` hears of the blob's
 * bytes as they are read (stored, so compressed: what its size counts). With
 * `checkDiffId`, the tar's sha256 is handed to it at the end, and what it
 * throws fails the iteration too: a layer read whole is checked against its config.
 */
export async function* layerMembers(store: Store, layer: Descriptor, where: string, onWrongType?: (message: string) => void, watch: { onRead?: (bytes: number) => void; checkDiffId?: (diffId: Digest) => void } = {}): AsyncGenerator<TarMember, void, undefined> {
  const { onRead, checkDiffId } = watch;
  const { compression, stream } = await openStoredLayer(store, layer, onWrongType);
  const tar = createDecompressor(compression, where);
  // Errors reach the reader through `tar`, which pipeline destroys with them.
  if (onRead) pipeline(stream, new Tap((chunk) => onRead(chunk.length)), tar).catch(() => {});
  else pipeline(stream, tar).catch(() => {});
  if (!checkDiffId) return yield* readTar(tar, where);
  const hash = createHash('sha256');
  const hashed = new Tap(
    (chunk) => void hash.update(chunk),
    async () => checkDiffId(`sha256:${hash.digest('hex')}`),
  );
  pipeline(tar, hashed).catch(() => {});
  yield* readTar(hashed, where);
}

/**
 * A stored layer's bytes (verified as read) and the compression to read
 * them with: what their magic bytes say (oci/layer-media.ts). The digest
 * stays the blob's; onWrongType hears of a media type the bytes contradict.
 */
export async function openStoredLayer(store: Store, layer: Descriptor, onWrongType?: (message: string) => void): Promise<{ compression: Compression; stream: Readable }> {
  const { compression, stream } = await detectCompression(store.openBlob(layer.digest, layer.size));
  const { warning } = readLayerAs(layer, compression);
  if (warning !== undefined) onWrongType?.(warning);
  return { compression, stream };
}
