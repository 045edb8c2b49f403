/**
 * flock(2) locks on files in the store's private directory. flock, not a
 * lock file that exists or not: the kernel drops the lock when the process
 * dies, even by SIGKILL, so a crash never leaves the store locked.
 *
 * Waiting polls with LOCK_NB instead of blocking in flock(2): a blocking call
 * would freeze Node's event loop, and two handles in one process (tests, a
 * command that opens the store twice) would deadlock each other.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromFsError } from '../errors.js';
import { native } from '../native/index.js';

export class FileLock {
  private constructor(private readonly fd: number, readonly path: string) {}

  /**
   * Opens (creating) the lock file; takes no lock yet. A plain descriptor, not
   * a FileHandle: Node closes an unreachable FileHandle on garbage collection,
   * which would silently drop the lock while its holder is still suspended.
   */
  static async open(path: string): Promise<FileLock> {
    try {
      return new FileLock(openSync(path, 'a+', 0o644), path);
    } catch (err) {
      throw fromFsError(err, path);
    }
  }

  /**
   * For a reader who may not write: opens an existing lock file read-only
   * (flock needs no write access) and creates nothing. Undefined when it
   * cannot be opened: not there (a layout another tool made), not readable,
   * or on a file system that refuses.
   */
  static async openExisting(path: string): Promise<FileLock | undefined> {
    try {
      return new FileLock(openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW), path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ELOOP') return undefined;
      throw fromFsError(err, path);
    }
  }

  /** Non-blocking attempt; false when another open file holds a conflicting lock. */
  try(exclusive: boolean): boolean {
    try {
      return native.flock(this.fd, exclusive, false);
    } catch (err) {
      throw fromFsError(err, this.path);
    }
  }

  /**
   * Waits until the lock is granted; onWait is told once if it has to wait.
   * Note flock(2) converts a held lock by dropping it first: a failed upgrade
   * attempt leaves this file unlocked, which is what lets two would-be
   * upgraders avoid deadlock.
   */
  async acquire(exclusive: boolean, onWait?: () => void): Promise<void> {
    let delay = 5;
    if (this.try(exclusive)) return;
    onWait?.();
    while (!this.try(exclusive)) {
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
  }

  /** Closing the file releases any lock it holds. */
  async close(): Promise<void> {
    closeSync(this.fd);
  }
}
