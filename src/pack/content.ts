/**
 * Reading a regular file's bytes for the archive. The header already says
 * how many bytes follow, so exactly that many are produced whatever the file
 * does meanwhile: a file that ends early is padded with zeros, one that grew
 * is cut at the header size (as GNU tar does); the caller compares fstat
 * before and after to warn about it.
 */
import { constants, fstatSync, openSync, readSync } from 'node:fs';
import { viaShortPath } from '../io/long-path.js';
import { native } from '../native/index.js';
import type { EntryStat } from './entry.js';

/**
 * Opens a file for reading without following a symlink, blocking on a fifo
 * swapped in since lstat, or (where the kernel lets us) touching its atime.
 */
export function openForReading(path: Buffer): number {
  return viaShortPath(path, openAt);
}

function openAt(path: Buffer): number {
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
export function looksSparse(stat: EntryStat): boolean {
  return stat.blocks * 512n < stat.size;
}

/**
 * Exactly `size` bytes of an open file, read into the caller's buffers (the
 * tar writer's staging space, so bytes are copied once). Holes (found with
 * SEEK_DATA/SEEK_HOLE when `sparse`) come out as zeros without being read,
 * so a mostly empty 1 GiB file costs no 1 GiB of disk reads; so does the
 * rest of a file that ended early (it shrank while we read it).
 */
export class FileContent {
  private position = 0;
  /** The data region the position is in or before: bytes before its start are a hole. */
  private dataStart = 0;
  private dataEnd: number;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly sparse: boolean,
  ) {
    this.dataEnd = sparse ? 0 : size;
  }

  get left(): number {
    return this.size - this.position;
  }

  /** Fills the start of `target` with the next bytes (at most those left) and returns how many. */
  fill(target: Buffer): number {
    const want = Math.min(target.length, this.size - this.position);
    if (want === 0) return 0;
    if (this.sparse && this.position >= this.dataEnd) this.findData();
    let count: number;
    if (this.position < this.dataStart) {
      count = Math.min(want, this.dataStart - this.position);
      target.fill(0, 0, count);
    } else {
      count = readSync(this.fd, target, 0, Math.min(want, this.dataEnd - this.position), this.position);
      if (count === 0) {
        // The file ended early: zeros up to the size the header gave.
        this.dataStart = this.dataEnd = this.size;
        return this.fill(target);
      }
    }
    this.position += count;
    return count;
  }

  private findData(): void {
    const data = native.seekData(this.fd, this.position);
    if (data < 0 || data >= this.size) {
      this.dataStart = this.dataEnd = this.size;
      return;
    }
    const hole = native.seekHole(this.fd, data);
    this.dataStart = data;
    this.dataEnd = hole < 0 ? this.size : Math.min(hole, this.size);
  }
}

/** What changed in a file between the lstat its header came from and the end of reading it. */
export function changeWhileRead(fd: number, before: EntryStat): { shrankBy: number } | 'changed' | null {
  const after = fstatSync(fd, { bigint: true });
  if (after.size < before.size) return { shrankBy: Number(before.size - after.size) };
  if (after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs) return 'changed';
  return null;
}
