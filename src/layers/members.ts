/**
 * A tree as a stream of members, whatever holds it: a tar (import, commit of
 * a tarball), an image's flattened layers (diff of two images) or a directory
 * on disk (src/pack/members.ts). This is what the compare (compare.ts) reads:
 * entries in tar order (a hardlink after the member it names), content only
 * on demand.
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { TarEntry } from '../tar/header.js';
import { readTar } from '../tar/reader.js';
import { flattenLayers } from './flatten.js';
import type { PlanOptions } from './plan.js';

export interface TreeMember {
  entry: TarEntry;
  /**
   * Files: exactly entry.size bytes. A tar's body can be asked for once,
   * before the next member (unread, it is skipped); a file on disk is opened
   * only when asked, as often as asked.
   */
  content?: () => Readable;
  /** content() still works after later members were read (a file on disk). */
  replayable?: boolean;
  /** Whether the file has other names (nlink > 1); undefined where the source cannot know (a tar). */
  linked?: boolean;
  /** A file on disk: when its inode last changed (ns), which says whether it may have changed since a capture (capture.ts). */
  ctimeNs?: bigint;
}

/** The members of a tar stream (already decompressed). */
export async function* tarMembers(tar: Readable, where: string): AsyncGenerator<TreeMember, void, undefined> {
  for await (const { entry, body } of readTar(tar, where)) {
    yield entry.type === 'file' ? { entry, content: () => body } : { entry };
  }
}

/** The members of an image's merged tree, as export writes it; with `verify`, each layer checked against its config's diff_id. */
export async function* imageMembers(store: Store, layers: Descriptor[], where: string, options: Pick<PlanOptions, 'verify' | 'onWarning'> = {}): AsyncGenerator<TreeMember, void, undefined> {
  for await (const { entry, body } of flattenLayers(store, layers, { where, ...options })) {
    yield body ? { entry, content: () => body } : { entry };
  }
}
