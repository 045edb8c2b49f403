/**
 * A depth-first walk of a tree in GNU tar --sort=name order: each directory
 * before its children, names sorted by raw bytes. Synchronous readdir and
 * lstat, because per-entry async calls are four times slower (a walk is a
 * long run of tiny syscalls). Memory holds one name list per depth level.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';

export interface WalkEntry {
  /** Path relative to the root, no leading or trailing slash. */
  relative: Buffer;
  absolute: Buffer;
  stat: BigIntStats;
  /**
   * For a directory: whether the walk reads its children, true unless the
   * consumer clears it before asking for the next entry.
   */
  descend: boolean;
}

/** Why an entry or a directory listing could not be read; the walk goes on without it. */
export type WalkError = (absolute: Buffer, err: NodeJS.ErrnoException, during: 'lstat' | 'readdir') => void;

const SLASH = Buffer.from('/');

/** The descendants of `root` (an absolute path, not itself yielded). */
export function* walkTree(root: Buffer, onError: WalkError): Generator<WalkEntry, void, undefined> {
  // "/" must not become "//name".
  const base = root.length > 1 && root[root.length - 1] === 0x2f ? root.subarray(0, -1) : root;
  yield* walkDirectory(base.equals(SLASH) ? Buffer.alloc(0) : base, Buffer.alloc(0), onError);
}

function* walkDirectory(absolute: Buffer, relative: Buffer, onError: WalkError): Generator<WalkEntry, void, undefined> {
  let names: Buffer[];
  try {
    names = readdirSync(absolute.length === 0 ? SLASH : absolute, { encoding: 'buffer' });
  } catch (err) {
    onError(absolute.length === 0 ? SLASH : absolute, err as NodeJS.ErrnoException, 'readdir');
    return;
  }
  names.sort(Buffer.compare);
  for (const name of names) {
    const childAbsolute = Buffer.concat([absolute, SLASH, name]);
    const childRelative = relative.length === 0 ? name : Buffer.concat([relative, SLASH, name]);
    let stat: BigIntStats;
    try {
      stat = lstatSync(childAbsolute, { bigint: true });
    } catch (err) {
      onError(childAbsolute, err as NodeJS.ErrnoException, 'lstat');
      continue;
    }
    const entry: WalkEntry = { relative: childRelative, absolute: childAbsolute, stat, descend: stat.isDirectory() };
    yield entry;
    if (entry.descend && stat.isDirectory()) yield* walkDirectory(childAbsolute, childRelative, onError);
  }
}
