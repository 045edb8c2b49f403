/**
 * Reading a regular file's bytes for the archive. The header already says
 * how many bytes follow, so exactly that many are produced whatever the file
 * does meanwhile: a file that ends early is padded with zeros, one that grew
 * is cut at the header size (as GNU tar does); the caller compares fstat
 * before and after to warn about it.
 */
import { constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { native } from '../native/index.js';

/** Read size, and the most one read holds in memory. */
export const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

/**
 * Opens a file for reading without following a symlink, blocking on a fifo
 * swapped in since lstat, or (where the kernel lets us) touching its atime.
 */
export function openForReading(path: Buffer): number {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  try {
    return openSync(path, flags | constants.O_NOATIME);
  } catch (err) {
    // O_NOATIME needs ownership of the file or CAP_FOWNER.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    return openSync(path, flags);
  }
}

/** True when the file has fewer blocks allocated than its size needs: worth asking the kernel where the holes are. */
export function looksSparse(stat: BigIntStats): boolean {
  return stat.blocks * 512n < stat.size;
}

/**
 * Exactly `size` bytes of the open file, in chunks of at most CHUNK. Holes
 * (found with SEEK_DATA/SEEK_HOLE when `sparse`) come out as zeros without
 * being read, so a mostly empty 1 GiB file costs no 1 GiB of disk reads.
 */
export function* fileBytes(fd: number, size: number, sparse: boolean): Generator<Buffer, void, undefined> {
  let position = 0;
  while (position < size) {
    let end = size;
    if (sparse) {
      const data = native.seekData(fd, position);
      if (data < 0 || data >= size) break;
      if (data > position) {
        yield* zeros(data - position);
        position = data;
      }
      const hole = native.seekHole(fd, position);
      end = hole < 0 ? size : Math.min(hole, size);
    }
    while (position < end) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, end - position));
      const read = readSync(fd, buffer, 0, buffer.length, position);
      if (read === 0) {
        yield* zeros(size - position); // the file ended early: it shrank while we read it
        return;
      }
      yield read === buffer.length ? buffer : buffer.subarray(0, read);
      position += read;
    }
  }
  yield* zeros(size - position);
}

function* zeros(count: number): Generator<Buffer, void, undefined> {
  for (let left = count; left > 0; left -= CHUNK) yield ZEROS.subarray(0, Math.min(left, CHUNK));
}

/** What changed in a file between the lstat its header came from and the end of reading it. */
export function changeWhileRead(fd: number, before: BigIntStats): { shrankBy: number } | 'changed' | null {
  const after = fstatSync(fd, { bigint: true });
  if (after.size < before.size) return { shrankBy: Number(before.size - after.size) };
  if (after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs) return 'changed';
  return null;
}
