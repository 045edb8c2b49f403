/** A stored layer blob as tar members: verified as read, decompressed per its media type. */
import { pipeline } from 'node:stream/promises';
import { createDecompressor, detectCompression } from '../compress/index.js';
import { layerCompression, type Descriptor } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { readTar, type TarMember } from '../tar/reader.js';

/**
 * The members of one layer. A blob whose bytes do not match its digest fails
 * the iteration (at the latest when its end is reached), so nothing read
 * from a damaged blob is taken as complete.
 */
export async function* layerMembers(store: Store, layer: Descriptor, where: string): AsyncGenerator<TarMember, void, undefined> {
  const blob = store.openBlob(layer.digest, layer.size);
  const known = layerCompression(layer.mediaType);
  // An unknown media type is not an error (image-spec); its bytes say how they are compressed.
  const { compression, stream } = known ? { compression: known, stream: blob } : await detectCompression(blob);
  const tar = createDecompressor(compression, where);
  // Errors reach the reader through `tar`, which pipeline destroys with them.
  pipeline(stream, tar).catch(() => {});
  yield* readTar(tar, where);
}
