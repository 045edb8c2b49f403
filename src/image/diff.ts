/**
 * `rootfs diff A B`: what differs between image A's merged tree and B (an
 * image or a directory), by the same compare that writes import --base's
 * layer, as docker diff's A/C/D: added, changed, deleted (a deleted
 * directory once, at its top). Paths kept in a layer only for their parents
 * or hardlinks are not differences and are not listed.
 */
import { trustedBefore } from '../layers/capture.js';
import { compareTree } from '../layers/compare.js';
import type { TreeMember } from '../layers/members.js';
import type { Store } from '../store/store.js';
import type { ResolvedImage } from '../store/resolve.js';
import { indexImage } from './delta.js';

export interface TreeDifference {
  kind: 'A' | 'C' | 'D';
  /** Absolute, as docker diff prints it. */
  path: string;
  /** File content bytes (for D, what the old tree had). */
  size: number;
}

/** `origin`: B is a directory on disk, that one (capture.ts treeOrigin). */
export async function* diffTrees(store: Store, a: ResolvedImage, aRef: string, b: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: { where: string; checksum?: boolean; origin?: string; onWarning?: (message: string) => void }): AsyncGenerator<TreeDifference, void, undefined> {
  // A command that only reads uses a kept tree index but never writes one.
  const old = await indexImage(store, a, aRef, options.onWarning);
  const trusted = trustedBefore(a.manifest.annotations, options.origin);
  for await (const change of compareTree(old, b, { where: options.where, checksum: options.checksum, trustedBefore: trusted, withContent: false })) {
    if (change.kind === 'delete') {
      yield { kind: 'D', path: `/${old.index.path(change.node).toString('utf8')}`, size: change.size };
    } else if (change.why === 'added' || change.why === 'changed') {
      yield { kind: change.why === 'added' ? 'A' : 'C', path: `/${change.entry.path.toString('utf8')}`, size: change.entry.type === 'file' ? change.entry.size : 0 };
    }
  }
}
