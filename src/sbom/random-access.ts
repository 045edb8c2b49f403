/**
 * A database file read by offset, a page at a time: an rpmdb can be 200 MB
 * and is never held whole. Every read is checked against the file's size,
 * and the bytes read in all are capped (a few times the file), so a hostile
 * database whose pointers loop or fan out cannot make a reader run for ever.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InvalidInputError } from '../errors.js';

export class RandomAccess {
  readonly size: number;
  private budget: number;
  private constructor(private readonly fd: number, readonly where: string) {
    this.size = fstatSync(fd).size;
    this.budget = this.size * 4 + (64 << 20);
  }

  /** Runs fn over the file at path (a spooled copy), closing it afterwards; `where` names the file in the tree. */
  static with<T>(path: string, where: string, fn: (file: RandomAccess) => T): T {
    const file = new RandomAccess(openSync(path, 'r'), where);
    try {
      return fn(file);
    } finally {
      closeSync(file.fd);
    }
  }

  /** Exactly length bytes at offset, or the database is corrupt. */
  read(offset: number, length: number): Buffer {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.size) {
      throw this.corrupt(`a read of ${length} bytes at offset ${offset} is outside the file (${this.size} bytes)`);
    }
    this.budget -= length;
    if (this.budget < 0) throw this.corrupt('its pointers lead to more reads than its size allows (a loop?)');
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buffer, done, length - done, offset + done);
      if (n === 0) throw this.corrupt('the file shrank while read');
      done += n;
    }
    return buffer;
  }

  corrupt(detail: string): InvalidInputError {
    return new InvalidInputError(this.where, detail);
  }
}
