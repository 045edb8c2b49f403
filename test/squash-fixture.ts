/**
 * Layers built entry by entry (whiteouts, hardlinks to lower layers, owners,
 * xattrs: what no directory tree can make GNU tar write) and images of them
 * put straight into a store, for the squash, export and unpack tests.
 */
import { gzipSync } from 'node:zlib';
import { commitImage } from '../src/image/commit.js';
import { sha256 } from '../src/oci/digest.js';
import { parseReference } from '../src/oci/reference.js';
import { MediaType, type Descriptor } from '../src/oci/types.js';
import type { Store } from '../src/store/store.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type EntryType, type TarEntry } from '../src/tar/header.js';

export interface EntrySpec {
  path: string;
  type?: EntryType;
  body?: string;
  /** Symlink or hardlink target. */
  link?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  xattrs?: Record<string, Buffer>;
}

/** A layer tar of the entries, in order (a path ending in '/' is a directory). */
export function layerOf(specs: EntrySpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const spec of specs) {
    const type = spec.type ?? (spec.path.endsWith('/') ? 'directory' : spec.link === undefined ? 'file' : 'symlink');
    const body = Buffer.from(spec.body ?? '');
    const entry: TarEntry = {
      path: Buffer.from(spec.path),
      type,
      mode: spec.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: spec.uid ?? 0,
      gid: spec.gid ?? 0,
      size: type === 'file' ? body.length : 0,
      mtime: 1700000000,
    };
    if (spec.link !== undefined) entry.linkpath = Buffer.from(spec.link);
    if (spec.xattrs) entry.xattrs = new Map(Object.entries(spec.xattrs));
    parts.push(encodeHeader(entry));
    if (entry.size > 0) parts.push(body, Buffer.alloc(padding(entry.size)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

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
