/**
 * rpmdb.sqlite (Fedora 33+, EL9, current SUSE): the header blobs of its
 * Packages table (hnum INTEGER PRIMARY KEY, blob BLOB), read with a walk of
 * that one table's B-tree, page by page (https://www.sqlite.org/fileformat2.html).
 * No SQLite library: node:sqlite needs Node 22, better-sqlite3 is a native
 * build, sql.js loads the whole file into memory (docs/dependencies.md).
 * A database left in WAL mode by a running rpm may have rows only in its
 * -wal file, which is not read (rpm checkpoints it into the database when it exits).
 */
import type { RandomAccess } from './random-access.js';
import { maxHeaderBytes } from './rpm-header.js';

const magic = Buffer.from('SQLite format 3\0', 'latin1');
const LEAF_TABLE = 13;
const INTERIOR_TABLE = 5;
/** Deeper than any real table B-tree (a 200 MB table of 4 KiB pages is 3-4 levels). */
const maxDepth = 20;

/** The values of `column` in every row of `table` that are blobs, in rowid order. */
export function* sqliteBlobs(file: RandomAccess, table: string, column: number): Generator<Buffer> {
  const db = open(file);
  let root: number | undefined;
  for (const record of walkTable(db, 1)) {
    const values = decodeRecord(db, record);
    if (values[0] === 'table' && values[1] === table && typeof values[3] === 'number') root = values[3];
  }
  if (root === undefined) throw file.corrupt(`no table ${table}`);
  for (const record of walkTable(db, root)) {
    const value = decodeRecord(db, record)[column];
    if (Buffer.isBuffer(value)) yield value;
  }
}

interface Db {
  file: RandomAccess;
  pageSize: number;
  usable: number;
  pages: number;
}

function open(file: RandomAccess): Db {
  const header = file.read(0, 100);
  if (!header.subarray(0, 16).equals(magic)) throw file.corrupt('not an SQLite 3 database');
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw file.corrupt(`page size ${raw}`);
  const usable = pageSize - header[20]!;
  if (usable < 480) throw file.corrupt(`usable page size ${usable}`);
  return { file, pageSize, usable, pages: Math.floor(file.size / pageSize) };
}

function page(db: Db, number: number): Buffer {
  if (number < 1 || number > db.pages) throw db.file.corrupt(`page ${number} is outside the file (${db.pages} pages)`);
  return db.file.read((number - 1) * db.pageSize, db.pageSize);
}

/** The payloads of a table B-tree's rows, depth first; a page seen twice is a loop. */
function* walkTable(db: Db, root: number): Generator<Buffer> {
  const seen = new Set<number>();
  const stack: Array<{ number: number; depth: number }> = [{ number: root, depth: 0 }];
  while (stack.length > 0) {
    const { number, depth } = stack.pop()!;
    if (seen.has(number) || depth > maxDepth) throw db.file.corrupt(`page ${number} is reached twice or too deep: a loop`);
    seen.add(number);
    const bytes = page(db, number);
    const start = number === 1 ? 100 : 0;
    const type = bytes[start];
    const cells = bytes.readUInt16BE(start + 3);
    if (type === LEAF_TABLE) {
      for (let i = 0; i < cells; i++) yield leafPayload(db, bytes, cellOffset(db, bytes, start + 8, i));
    } else if (type === INTERIOR_TABLE) {
      const children = [];
      for (let i = 0; i < cells; i++) children.push(bytes.readUInt32BE(cellOffset(db, bytes, start + 12, i)));
      children.push(bytes.readUInt32BE(start + 8));
      // Pushed last first, so rows come out in rowid order.
      for (const child of children.reverse()) stack.push({ number: child, depth: depth + 1 });
    } else {
      throw db.file.corrupt(`page ${number} is not a table B-tree page (type ${type})`);
    }
  }
}

function cellOffset(db: Db, bytes: Buffer, pointers: number, i: number): number {
  const offset = bytes.readUInt16BE(pointers + i * 2);
  if (offset < pointers || offset >= db.usable) throw db.file.corrupt(`a cell pointer (${offset}) outside its page`);
  return offset;
}

/** A leaf cell's payload: its local part, then its overflow pages' (first 4 bytes: the next page). */
function leafPayload(db: Db, bytes: Buffer, at: number): Buffer {
  const [size, afterSize] = varint(db, bytes, at);
  const [, afterRowid] = varint(db, bytes, afterSize);
  if (size > maxHeaderBytes) throw db.file.corrupt(`a row of ${size} bytes`);
  const max = db.usable - 35;
  let local = size;
  if (size > max) {
    const min = Math.floor(((db.usable - 12) * 32) / 255) - 23;
    const k = min + ((size - min) % (db.usable - 4));
    local = k <= max ? k : min;
  }
  if (afterRowid + local > db.usable) throw db.file.corrupt('a cell runs past its page');
  if (local === size) return bytes.subarray(afterRowid, afterRowid + size);
  const payload = Buffer.allocUnsafe(size);
  bytes.copy(payload, 0, afterRowid, afterRowid + local);
  let filled = local;
  let next = bytes.readUInt32BE(afterRowid + local);
  while (filled < size) {
    const overflow = page(db, next);
    const take = Math.min(size - filled, db.usable - 4);
    overflow.copy(payload, filled, 4, 4 + take);
    filled += take;
    next = overflow.readUInt32BE(0);
  }
  return payload;
}

type Value = null | number | string | Buffer;

function decodeRecord(db: Db, record: Buffer): Value[] {
  const [headerSize, first] = varint(db, record, 0);
  if (headerSize > record.length) throw db.file.corrupt('a record header runs past its record');
  const types: number[] = [];
  for (let at = first; at < headerSize; ) {
    const [type, next] = varint(db, record, at);
    types.push(type);
    at = next;
  }
  const values: Value[] = [];
  let at = headerSize;
  for (const type of types) {
    const length = type >= 12 ? Math.floor((type - 12) / 2) : [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0][type]!;
    if (at + length > record.length) throw db.file.corrupt('a record value runs past its record');
    const bytes = record.subarray(at, at + length);
    at += length;
    if (type === 0) values.push(null);
    else if (type >= 1 && type <= 6) values.push(Number(bytes.readIntBE(0, Math.min(length, 6))) * (length > 6 ? 2 ** 16 : 1) + (length > 6 ? bytes.readUInt16BE(6) : 0));
    else if (type === 8 || type === 9) values.push(type - 8);
    else if (type >= 12 && type % 2 === 0) values.push(bytes);
    else if (type >= 13) values.push(bytes.toString('utf8'));
    else values.push(null);
  }
  return values;
}

/** SQLite's variable-length integer: up to 8 bytes of 7 bits, a ninth of 8. */
function varint(db: Db, bytes: Buffer, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    if (at + i >= bytes.length) throw db.file.corrupt('a number runs past its page');
    const byte = bytes[at + i]!;
    if (i === 8) return [value * 256 + byte, at + 9];
    value = value * 128 + (byte & 0x7f);
    if (byte < 0x80) return [value, at + i + 1];
  }
  return [value, at + 9];
}
