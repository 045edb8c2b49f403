/**
 * Images of layers built entry by entry (fixtures.ts tarOf: whiteouts,
 * hardlinks to lower layers, owners, xattrs) put straight into a store, for
 * the squash, export and unpack tests.
 */
import { gzipSync } from 'node:zlib';
import { commitImage } from '../src/image/commit.js';
import { sha256 } from '../src/oci/digest.js';
import { parseReference } from '../src/oci/reference.js';
import { MediaType, type Descriptor } from '../src/oci/types.js';
import type { Store } from '../src/store/store.js';

/** Stores the layer tars (gzip) as one image tagged `name`, one history entry per layer. */
export async function storeImage(store: Store, name: string, layers: Buffer[]): Promise<Descriptor> {
  const descriptors: Descriptor[] = [];
  for (const tar of layers) descriptors.push({ mediaType: MediaType.LayerTarGzip, ...(await store.putBlob(gzipSync(tar))) });
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((tar) => sha256(tar)) },
    history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i + 1}` })),
  };
  return commitImage(store, { config: Buffer.from(JSON.stringify(config)), layers: descriptors, tags: [parseReference(name)] });
}
