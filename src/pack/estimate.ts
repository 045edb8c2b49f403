/**
 * How many bytes of tar a pack will write, known before it starts, so that a
 * progress line can say `of ~22GiB (est.)`, a percent and an ETA. It never
 * changes what pack writes.
 *
 * A root that is a whole filesystem's root (`/`, a mounted disk): the kernel
 * already counts what its filesystems hold, so statfs(2) gives used bytes and
 * used inodes at once, for each filesystem pack will enter (the root's, and
 * with --cross-mounts every mount under it, each filesystem once), leaving out
 * the mount points it will not enter. Anything else (a directory inside a
 * filesystem, a bind mount of one, a btrfs subvolume, or a mount entered that
 * is one of those) statfs cannot speak for: the tree is counted by a walk, but only
 * while that walk is cheap (up to walkLimit entries); a larger one gets no
 * total rather than a false one.
 *
 * Either way an estimate: files change while they are packed, statfs counts
 * blocks and the filesystem's own metadata, and the exclude globs under a
 * filesystem's root are not subtracted (that would take the walk we skip).
 */
import { statfsSync, statSync } from 'node:fs';
import { PathRules } from './excludes.js';
import { readMounts } from './mounts.js';
import { openRoot, TreeWalk, type TreeOptions } from './tree.js';

const BLOCK = 512;
/** Per entry, on average: its header block and half a block of padding after its data. */
const ENTRY_OVERHEAD = BLOCK + BLOCK / 2;
/** Two zero blocks end the archive. */
const END = 2 * BLOCK;
/** The most entries counted to estimate a directory that is not a filesystem's root (~0.1 s of walking). */
const walkLimit = 20_000;

/** The estimated size of pack's tar of root with pack's options, or undefined when it cannot be known cheaply. */
export function estimatePack(root: string, options: TreeOptions = {}): number | undefined {
  try {
    const opened = openRoot(root);
    const mounts = readMounts();
    const path = opened.path.toString('latin1');
    return mounts.get(path) === '/' ? fromFilesystems(path, mounts, options) : fromWalk(new TreeWalk(opened, options));
  } catch {
    // An estimate is a courtesy: whatever stops it (a root that is not there, a mount gone meanwhile), pack goes on
    // without one, and says itself what is wrong with root.
    return undefined;
  }
}

/** statfs of each filesystem entered; undefined when one is entered at a directory of it (a bind mount, a btrfs subvolume): statfs would count all of it. */
function fromFilesystems(root: string, mounts: Map<string, string>, options: TreeOptions): number | undefined {
  const prefix = root === '/' ? '/' : `${root}/`;
  const entered = [root];
  if (options.oneFileSystem === false) {
    const rules = new PathRules(options);
    for (const point of mounts.keys()) {
      if (!point.startsWith(prefix)) continue;
      // A mount inside an emptied or excluded directory is never reached.
      const parts = point.slice(prefix.length).split('/');
      const reached = parts.every((_, i) => {
        const relative = Buffer.from(parts.slice(0, i + 1).join('/'), 'latin1');
        return !rules.emptied(relative) && !rules.excluded(relative);
      });
      if (reached) entered.push(point);
    }
  }
  const seen = new Set<bigint>();
  let bytes = END;
  for (const point of entered) {
    const path = Buffer.from(point, 'latin1');
    // A bind mount shows a filesystem already counted.
    const dev = statSync(path, { bigint: true }).dev;
    if (seen.has(dev)) continue;
    if (mounts.get(point) !== '/') return undefined;
    seen.add(dev);
    const fs = statfsSync(path);
    bytes += (fs.blocks - fs.bfree) * fs.bsize + Math.max(0, fs.files - fs.ffree) * ENTRY_OVERHEAD;
  }
  return bytes;
}

/** pack's own walk, with its rules, counted while it stays under walkLimit entries. */
function fromWalk(tree: TreeWalk): number | undefined {
  const linked = new Set<string>();
  let entries = 0;
  let bytes = END;
  for (const { stat } of tree.entries(() => {})) {
    if (++entries > walkLimit) return undefined;
    bytes += BLOCK;
    if (!stat.isFile()) continue;
    // A file's second name is a hardlink member: no data.
    if (stat.nlink > 1n) {
      const key = `${stat.dev}:${stat.ino}`;
      if (linked.has(key)) continue;
      linked.add(key);
    }
    bytes += Math.ceil(Number(stat.size) / BLOCK) * BLOCK;
  }
  return bytes;
}
