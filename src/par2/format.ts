/**
 * PAR 2.0 packets (the spec at parchive.github.io, and par2cmdline's
 * par2fileformat.h): a 64-byte header (magic, length, the MD5 of the rest,
 * the recovery set ID, the type) and a body whose length is a multiple of 4.
 * Integers are little-endian. Reading takes only packets whose MD5 checks,
 * so a damaged parity file still gives what is intact in it.
 */
import { createHash } from 'node:crypto';

const magic = Buffer.from('PAR2\0PKT', 'latin1');
export const headerSize = 64;

function packetType(name: string): Buffer {
  return Buffer.concat([Buffer.from('PAR 2.0\0', 'latin1'), Buffer.from(name.padEnd(8, '\0'), 'latin1')]);
}

export const packetTypes = {
  main: packetType('Main'),
  fileDescription: packetType('FileDesc'),
  sliceChecksums: packetType('IFSC'),
  recoverySlice: packetType('RecvSlic'),
  creator: packetType('Creator'),
};

export function md5(...data: Buffer[]): Buffer {
  const hash = createHash('md5');
  for (const piece of data) hash.update(piece);
  return hash.digest();
}

function u64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(value));
  return bytes;
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes;
}

/** Zero-padded to a multiple of 4, as every PAR2 body is. */
function padded(data: Buffer): Buffer {
  return data.length % 4 === 0 ? data : Buffer.concat([data, Buffer.alloc(4 - (data.length % 4))]);
}

/** The header of a packet whose body is given in pieces (a recovery slice's data is not copied). */
export function packetHeader(setId: Buffer, type: Buffer, ...body: Buffer[]): Buffer {
  const length = headerSize + body.reduce((sum, piece) => sum + piece.length, 0);
  return Buffer.concat([magic, u64(length), md5(setId, type, ...body), setId, type]);
}

export function packet(setId: Buffer, type: Buffer, body: Buffer): Buffer {
  return Buffer.concat([packetHeader(setId, type, body), body]);
}

export interface SliceCheck {
  /** MD5 and CRC32 of the slice, the last one of a file zero-padded to the slice size. */
  md5: Buffer;
  crc32: number;
}

export interface FileDescription {
  fileId: Buffer;
  md5: Buffer;
  md5First16k: Buffer;
  length: number;
  name: string;
}

/** The file ID: MD5 of the first 16 KiB's MD5, the length and the name (unpadded). */
export function fileId(md5First16k: Buffer, length: number, name: string): Buffer {
  return md5(md5First16k, u64(length), Buffer.from(name, 'utf8'));
}

/** par2cmdline's order of file IDs (MD5Hash::operator<): as 128-bit little-endian numbers. */
export function compareFileIds(a: Buffer, b: Buffer): number {
  for (let i = 15; i >= 0; i--) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

export function mainBody(sliceSize: number, fileIds: Buffer[]): Buffer {
  return Buffer.concat([u64(sliceSize), u32(fileIds.length), ...fileIds]);
}

export function fileDescriptionBody(file: FileDescription): Buffer {
  return Buffer.concat([file.fileId, file.md5, file.md5First16k, u64(file.length), padded(Buffer.from(file.name, 'utf8'))]);
}

export function sliceChecksumsBody(id: Buffer, slices: SliceCheck[]): Buffer {
  return Buffer.concat([id, ...slices.flatMap((slice) => [slice.md5, u32(slice.crc32)])]);
}

export function creatorBody(creator: string): Buffer {
  return padded(Buffer.from(creator, 'utf8'));
}

export function recoveryExponent(exponent: number): Buffer {
  return u32(exponent);
}

/** A header read from bytes: its total length when the magic is there and the length is possible, else undefined. */
export function headerLength(header: Buffer): number | undefined {
  if (header.length < headerSize || !header.subarray(0, 8).equals(magic)) return undefined;
  const length = header.readBigUInt64LE(8);
  return length >= BigInt(headerSize) && length % 4n === 0n && length <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(length) : undefined;
}

/** Where the next packet may start in a buffer: the magic's offset, or -1. */
export function findMagic(data: Buffer, from: number): number {
  return data.indexOf(magic, from);
}

export const magicLength = magic.length;

export function parseMain(body: Buffer): { sliceSize: number; fileIds: Buffer[] } | undefined {
  if (body.length < 12) return undefined;
  const sliceSize = Number(body.readBigUInt64LE(0));
  const count = body.readUInt32LE(8);
  if (sliceSize < 4 || sliceSize % 4 !== 0 || !Number.isSafeInteger(sliceSize) || body.length < 12 + 16 * count) return undefined;
  return { sliceSize, fileIds: Array.from({ length: count }, (_, i) => body.subarray(12 + 16 * i, 28 + 16 * i)) };
}

/** A file name longer than Linux's PATH_MAX is no file of ours: such a packet is not kept. */
const longestName = 4096;

export function parseFileDescription(body: Buffer): FileDescription | undefined {
  if (body.length < 56 || body.length > 56 + longestName + 4) return undefined;
  const length = body.readBigUInt64LE(48);
  if (length > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  const name = body.subarray(56);
  const end = name.indexOf(0);
  // Copies, so that what is kept does not hold the packet's buffer.
  const copy = (from: number, to: number): Buffer => Buffer.from(body.subarray(from, to));
  return { fileId: copy(0, 16), md5: copy(16, 32), md5First16k: copy(32, 48), length: Number(length), name: name.subarray(0, end < 0 ? name.length : end).toString('utf8') };
}

export function parseSliceChecksums(body: Buffer): { fileId: Buffer; slices: SliceCheck[] } | undefined {
  if (body.length < 16 || (body.length - 16) % 20 !== 0) return undefined;
  const slices = Array.from({ length: (body.length - 16) / 20 }, (_, i) => ({ md5: body.subarray(16 + 20 * i, 32 + 20 * i), crc32: body.readUInt32LE(32 + 20 * i) }));
  return { fileId: body.subarray(0, 16), slices };
}
