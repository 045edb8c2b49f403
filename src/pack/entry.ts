/**
 * The metadata of one file of a live tree as a tar entry sees it, shared by
 * pack (which writes it) and the directory source of import/commit/diff
 * (which compares it): xattrs, device numbers, whole-second mtimes.
 */
import type { BigIntStats } from 'node:fs';
import { viaShortPath } from '../io/long-path.js';
import { native } from '../native/index.js';

/**
 * All extended attributes of a path, one call at a time (pack's walk reads
 * them with its listing and comes here when that failed, for Node's error) (not following a symlink), sorted by
 * name; undefined when it has none or the filesystem has none.
 * security.selinux is dropped unless asked for: a host's label means nothing in an image.
 * System errors (the file vanished, EACCES) are thrown for the caller to judge.
 */
export function readXattrs(absolute: Buffer, selinux: boolean): Map<string, Buffer> | undefined {
  return viaShortPath(absolute, (path) => readXattrsAt(path, selinux));
}

function readXattrsAt(absolute: Buffer, selinux: boolean): Map<string, Buffer> | undefined {
  let names: Buffer[];
  try {
    names = native.llistxattr(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return undefined;
    throw err;
  }
  if (names.length === 0) return undefined;
  const xattrs = new Map<string, Buffer>();
  for (const name of names.sort(Buffer.compare)) {
    const key = name.toString('utf8');
    if (key === 'security.selinux' && !selinux) continue;
    const value = native.lgetxattr(absolute, name);
    if (value) xattrs.set(key, value);
  }
  return xattrs.size > 0 ? xattrs : undefined;
}

/** The lstat fields and type tests a tar entry is made from: a BigIntStats, or what pack's walk lists. */
export type EntryStat = Pick<
  BigIntStats,
  'dev' | 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'rdev' | 'size' | 'blocks' | 'mtimeNs' | 'ctimeNs' | 'isDirectory' | 'isFile' | 'isSymbolicLink' | 'isCharacterDevice' | 'isBlockDevice' | 'isFIFO' | 'isSocket'
>;

/** glibc's gnu_dev_major/gnu_dev_minor on the 64-bit dev_t. */
export function deviceNumbers(rdev: bigint): { devmajor: number; devminor: number } {
  return {
    devmajor: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    devminor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

/** The mtime in whole seconds (floored, also before 1970), as tar stores it; newer than `clamp` stored as `clamp`. */
export function mtimeSeconds(stat: EntryStat, clamp?: number): number {
  const ns = stat.mtimeNs;
  const seconds = Number(ns / 1_000_000_000n) - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1 : 0);
  return clamp !== undefined && seconds > clamp ? clamp : seconds;
}
