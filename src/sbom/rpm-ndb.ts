/**
 * rpm's NDB `Packages.db` (SUSE since 15.x): a slot table in its first pages
 * (each slot: magic "Slot", package index, block offset, block count, all
 * little-endian), and each package's header blob at its block offset between
 * a head ("BlbS", index, generation, length) and a tail (adler32, length,
 * "BlbE") (rpm's lib/backend/ndb/rpmpkg.c). Debian's rpm is built without
 * NDB, so the test writes such a file by that layout.
 */
import type { RandomAccess } from './random-access.js';
import { maxHeaderBytes } from './rpm-header.js';

const tag = (text: string) => Buffer.from(text, 'latin1').readUInt32LE(0);
const PKGDB_MAGIC = tag('RpmP');
const SLOT_MAGIC = tag('Slot');
const BLOBHEAD_MAGIC = tag('BlbS');
const BLOBTAIL_MAGIC = tag('BlbE');
const PAGE_SIZE = 4096;
const SLOT_SIZE = 16;
const BLK_SIZE = 16;
/** The first two slots' bytes are the file header. */
const firstSlot = 2;

export function* ndbValues(file: RandomAccess): Generator<Buffer> {
  const header = file.read(0, 32);
  if (header.readUInt32LE(0) !== PKGDB_MAGIC) throw file.corrupt('not an rpm NDB package database');
  if (header.readUInt32LE(4) !== 0) throw file.corrupt(`NDB version ${header.readUInt32LE(4)}`);
  const slotPages = header.readUInt32LE(12);
  if (slotPages === 0 || slotPages * PAGE_SIZE > file.size) throw file.corrupt(`${slotPages} slot pages`);
  for (let page = 0; page < slotPages; page++) {
    const bytes = file.read(page * PAGE_SIZE, PAGE_SIZE);
    for (let at = page === 0 ? firstSlot * SLOT_SIZE : 0; at < PAGE_SIZE; at += SLOT_SIZE) {
      if (bytes.readUInt32LE(at) !== SLOT_MAGIC) throw file.corrupt(`slot at ${page * PAGE_SIZE + at} has no magic`);
      const index = bytes.readUInt32LE(at + 4);
      const offset = bytes.readUInt32LE(at + 8);
      const blocks = bytes.readUInt32LE(at + 12);
      if (offset === 0) continue;
      yield blob(file, index, offset * BLK_SIZE, blocks * BLK_SIZE);
    }
  }
}

function blob(file: RandomAccess, index: number, start: number, span: number): Buffer {
  const head = file.read(start, 16);
  if (head.readUInt32LE(0) !== BLOBHEAD_MAGIC || head.readUInt32LE(4) !== index) throw file.corrupt(`package ${index}: no blob at offset ${start}`);
  const length = head.readUInt32LE(12);
  if (length > maxHeaderBytes || 16 + length + 12 > span) throw file.corrupt(`package ${index}: a blob of ${length} bytes in ${span}`);
  const tail = file.read(start + span - 12, 12);
  if (tail.readUInt32LE(4) !== length || tail.readUInt32LE(8) !== BLOBTAIL_MAGIC) throw file.corrupt(`package ${index}: its blob's tail does not match its head`);
  return file.read(start + 16, length);
}
