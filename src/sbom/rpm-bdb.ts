/**
 * The BerkeleyDB hash `Packages` of rpm up to 4.15 (CentOS/RHEL 7 and 8):
 * values are header blobs, keys the 4-byte install number. Rather than
 * follow the hash's buckets we visit every page once, as rpm's own bdb_ro
 * backend and go-rpmdb do: each hash page holds key/data pairs, and a data
 * item too big for its page (a header, always) points to a chain of overflow
 * pages. Fields are in the byte order of the machine that wrote the file,
 * told by the magic number in the metadata page.
 */
import type { RandomAccess } from './random-access.js';
import { maxHeaderBytes } from './rpm-header.js';

const HASH_MAGIC = 0x061561;
const P_HASH_UNSORTED = 2;
const P_HASH = 13;
const P_OVERFLOW = 7;
const H_KEYDATA = 1;
const H_OFFPAGE = 3;
const pageHeaderSize = 26;

export function* bdbHashValues(file: RandomAccess): Generator<Buffer> {
  const meta = file.read(0, 512);
  const little = meta.readUInt32LE(12) === HASH_MAGIC;
  if (!little && meta.readUInt32BE(12) !== HASH_MAGIC) throw file.corrupt('not a BerkeleyDB hash database');
  const u32 = (b: Buffer, at: number) => (little ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const u16 = (b: Buffer, at: number) => (little ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const pageSize = u32(meta, 20);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw file.corrupt(`page size ${pageSize}`);
  const lastPage = u32(meta, 32);
  if ((lastPage + 1) * pageSize > file.size) throw file.corrupt(`truncated: ${lastPage + 1} pages of ${pageSize} bytes in ${file.size} bytes`);
  for (let number = 1; number <= lastPage; number++) {
    const page = file.read(number * pageSize, pageSize);
    const type = page[25];
    if (type !== P_HASH && type !== P_HASH_UNSORTED) continue;
    const entries = u16(page, 20);
    if (pageHeaderSize + entries * 2 > pageSize) throw file.corrupt(`page ${number} claims ${entries} entries`);
    // Entries alternate key, data; items are packed from the end of the page, so an item ends where the one before it starts.
    for (let i = 1; i < entries; i += 2) {
      const start = u16(page, pageHeaderSize + i * 2);
      const end = u16(page, pageHeaderSize + (i - 1) * 2);
      if (start >= end || end > pageSize || start < pageHeaderSize) throw file.corrupt(`page ${number}: item ${i} outside its page`);
      const kind = page[start];
      if (kind === H_KEYDATA) yield page.subarray(start + 1, end);
      else if (kind === H_OFFPAGE) {
        if (start + 12 > end) throw file.corrupt(`page ${number}: a short off-page item`);
        yield overflow(file, u32(page, start + 4), u32(page, start + 8), pageSize, { u16, u32 });
      }
    }
  }
}

/** An off-page item: `length` bytes from a chain of overflow pages (each: its used length at 22, the next page at 16). */
function overflow(file: RandomAccess, first: number, length: number, pageSize: number, read: { u16: (b: Buffer, at: number) => number; u32: (b: Buffer, at: number) => number }): Buffer {
  if (length > maxHeaderBytes) throw file.corrupt(`an item of ${length} bytes`);
  const value = Buffer.allocUnsafe(length);
  let filled = 0;
  const seen = new Set<number>();
  for (let number = first; filled < length; ) {
    if (number === 0 || seen.has(number)) throw file.corrupt(`an overflow chain ends early or loops at page ${number}`);
    seen.add(number);
    const page = file.read(number * pageSize, pageSize);
    if (page[25] !== P_OVERFLOW) throw file.corrupt(`page ${number} is not an overflow page`);
    const used = read.u16(page, 22);
    if (used > pageSize - pageHeaderSize || used > length - filled) throw file.corrupt(`overflow page ${number} claims ${used} bytes`);
    page.copy(value, filled, pageHeaderSize, pageHeaderSize + used);
    filled += used;
    number = read.u32(page, 16);
  }
  return value;
}
