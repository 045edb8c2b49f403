/**
 * Paths longer than PATH_MAX. A tree may hold them (GNU tar packs them: it
 * walks with *at calls relative to directory descriptors), but a syscall
 * given the whole path fails with ENAMETOOLONG. viaShortPath opens the
 * directories on the way in pieces that fit, each relative to the last
 * through /proc/self/fd/N, and hands the call a path under the last one: the
 * *at calls Node does not offer, for any call that takes a path.
 */
import { closeSync, constants, openSync } from 'node:fs';

/**
 * Below PATH_MAX (4096, the terminating NUL included) with room for a
 * "/proc/self/fd/N/" prefix, and for one more name (255 bytes at most): the
 * walk's listing call reaches each entry as PATH/NAME.
 */
const fits = 3800;

/** `fn(path)`, or `fn` of a path that names the same file and fits (the directories opened for it closed after). */
export function viaShortPath<T>(path: Buffer, fn: (path: Buffer) => T): T {
  if (path.length < fits) return fn(path);
  const fds: number[] = [];
  try {
    let prefix = Buffer.alloc(0);
    let rest = path;
    while (prefix.length + rest.length >= fits) {
      // The longest run of whole names that fits, opened as a directory; the rest is relative to it.
      const cut = rest.lastIndexOf(0x2f, fits - prefix.length - 1);
      if (cut <= 0) break; // one name longer than any path: the call says ENAMETOOLONG itself
      const fd = openSync(Buffer.concat([prefix, rest.subarray(0, cut)]), constants.O_RDONLY | constants.O_DIRECTORY);
      fds.push(fd);
      prefix = Buffer.from(`/proc/self/fd/${fd}/`);
      rest = rest.subarray(cut + 1);
    }
    return fn(Buffer.concat([prefix, rest]));
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
