/**
 * Mount points, for --one-file-system. A different st_dev catches most other
 * filesystems, but a bind mount of a directory of the same filesystem keeps
 * st_dev; only the kernel's mount table tells it apart.
 */
import { readFileSync } from 'node:fs';

/**
 * The absolute mount points listed in a mountinfo file, as latin1 strings of
 * their raw bytes (so non-UTF-8 paths compare exactly). An unreadable table
 * (no /proc) gives an empty set: st_dev then is the only test.
 */
export function readMountPoints(mountinfo = '/proc/self/mountinfo'): Set<string> {
  return new Set(readMounts(mountinfo).keys());
}

/**
 * Each mount point with the directory of its filesystem it shows: "/" for a
 * whole filesystem, a path for a bind mount of a directory or a btrfs
 * subvolume. Of mounts stacked on one point, the last listed (the one seen).
 */
export function readMounts(mountinfo = '/proc/self/mountinfo'): Map<string, string> {
  let table: Buffer;
  try {
    table = readFileSync(mountinfo);
  } catch {
    return new Map();
  }
  const mounts = new Map<string, string>();
  for (const line of table.toString('latin1').split('\n')) {
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": field 4 is the root, field 5 the mount point.
    const [, , , root, point] = line.split(' ');
    if (root && point) mounts.set(unescapeMountPath(point), unescapeMountPath(root));
  }
  return mounts;
}

/** The kernel writes space, tab, newline and backslash in mount paths as \ooo octal escapes. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
