/**
 * Byte-exact encoding and decoding of tar headers: POSIX ustar blocks plus
 * pax extended records, reading the GNU extensions (long names, base-256
 * numbers) that other writers use. tar-stream cannot be used here: it clamps
 * uid/gid to six octal digits and turns binary pax values into UTF-8
 * replacement characters (docs/dependencies.md).
 *
 * Paths, link targets and xattr values are Buffers throughout: a Linux name
 * is bytes, and a non-UTF-8 name must come out as it went in.
 */
import { isUtf8 } from 'node:buffer';
import { displayPath, InvalidInputError } from '../errors.js';

export const BLOCK = 512;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'directory' | 'fifo';

/** One archive member, as our code models it (pax records already applied). */
export interface TarEntry {
  /** Raw bytes, relative, without a leading "./" unless the writer put one there. */
  path: Buffer;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow the header (0 for everything but files). */
  size: number;
  /** Seconds since the epoch; integer unless a pax mtime had a fraction. */
  mtime: number;
  /** Symlink target, or the path a hardlink points to. */
  linkpath?: Buffer;
  devmajor?: number;
  devminor?: number;
  uname?: string;
  gname?: string;
  /** Extended attributes by name (e.g. security.capability), values exact. */
  xattrs?: Map<string, Buffer>;
  /** pax records we do not model (atime, GNU.sparse.*, vendor keys), kept as read. */
  pax?: Map<string, Buffer>;
}

const typeFlags: Record<EntryType, number> = {
  file: 0x30, // '0'
  hardlink: 0x31,
  symlink: 0x32,
  chardev: 0x33,
  blockdev: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

/** Header typeflags that describe the next member rather than being one. */
export const TypeFlag = {
  PaxHeader: 0x78, // 'x'
  PaxGlobal: 0x67, // 'g'
  GnuLongName: 0x4c, // 'L'
  GnuLongLink: 0x4b, // 'K'
  GnuSparse: 0x53, // 'S'
} as const;

// ustar field offsets and widths
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

// ---------------------------------------------------------------- encoding

/**
 * The header blocks for an entry: a pax 'x' header (and its records) when
 * anything does not fit ustar exactly, then the ustar header. The caller
 * writes `entry.size` bytes of content and pads them to a block after it.
 */
export function encodeHeader(entry: TarEntry): Buffer {
  const pax = new Map<string, Buffer>();
  const block = Buffer.alloc(BLOCK);

  const split = splitUstarPath(entry.path);
  if (split) {
    block.set(split.name, F.name[0]);
    block.set(split.prefix, F.prefix[0]);
  } else {
    pax.set('path', entry.path);
    block.set(entry.path.subarray(0, F.name[1]), F.name[0]);
  }
  if (entry.linkpath) {
    if (entry.linkpath.length <= F.linkname[1]) block.set(entry.linkpath, F.linkname[0]);
    else {
      pax.set('linkpath', entry.linkpath);
      block.set(entry.linkpath.subarray(0, F.linkname[1]), F.linkname[0]);
    }
  }
  // POSIX wants pax strings in UTF-8; hdrcharset=BINARY says these bytes are
  // not. bsdtar refuses a non-UTF-8 pax path without it; GNU tar 1.34 only
  // warns that it does not know the keyword, and keeps the bytes either way.
  if ((pax.has('path') && !isUtf8(entry.path)) || (pax.has('linkpath') && entry.linkpath && !isUtf8(entry.linkpath))) {
    pax.set('hdrcharset', Buffer.from('BINARY'));
  }

  writeOctal(block, F.mode, entry.mode & 0o7777);
  numberOrPax(block, F.uid, entry.uid, 'uid', pax);
  numberOrPax(block, F.gid, entry.gid, 'gid', pax);
  numberOrPax(block, F.size, entry.type === 'file' ? entry.size : 0, 'size', pax);
  const seconds = Math.floor(entry.mtime);
  if (seconds !== entry.mtime) pax.set('mtime', Buffer.from(formatPaxTime(entry.mtime)));
  numberOrPax(block, F.mtime, seconds, 'mtime', pax);
  block[F.typeflag[0]] = typeFlags[entry.type];
  block.write('ustar\x00', F.magic[0], 'latin1');
  block.write('00', F.version[0], 'latin1');
  if (entry.uname) writeString(block, F.uname, entry.uname, 'uname', pax);
  if (entry.gname) writeString(block, F.gname, entry.gname, 'gname', pax);
  if (entry.type === 'chardev' || entry.type === 'blockdev') {
    writeNumeric(block, F.devmajor, entry.devmajor ?? 0);
    writeNumeric(block, F.devminor, entry.devminor ?? 0);
  }
  if (entry.xattrs) {
    for (const [name, value] of [...entry.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      pax.set(`SCHILY.xattr.${name}`, value);
    }
  }
  if (entry.pax) for (const [key, value] of entry.pax) if (!pax.has(key)) pax.set(key, value);
  writeChecksum(block);

  if (pax.size === 0) return block;
  const records = encodePaxRecords(pax);
  const paxHeader = Buffer.alloc(BLOCK);
  const paxName = paxHeaderName(entry.path);
  paxHeader.set(paxName, F.name[0]);
  writeOctal(paxHeader, F.mode, 0o644);
  writeOctal(paxHeader, F.uid, 0);
  writeOctal(paxHeader, F.gid, 0);
  writeOctal(paxHeader, F.size, records.length);
  writeOctal(paxHeader, F.mtime, Math.max(0, Math.min(seconds, 0o77777777777)));
  paxHeader[F.typeflag[0]] = TypeFlag.PaxHeader;
  paxHeader.write('ustar\x00', F.magic[0], 'latin1');
  paxHeader.write('00', F.version[0], 'latin1');
  writeChecksum(paxHeader);
  return Buffer.concat([paxHeader, records, Buffer.alloc(padding(records.length)), block]);
}

/** The zeros that bring `size` up to a whole block. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** Splits a path into ustar name (≤100) and prefix (≤155) at a slash, or null if it cannot be. */
function splitUstarPath(path: Buffer): { name: Buffer; prefix: Buffer } | null {
  if (path.length <= F.name[1]) return { name: path, prefix: Buffer.alloc(0) };
  if (path.length > F.name[1] + 1 + F.prefix[1]) return null;
  // The prefix must be as long as possible but ≤155; the name what is left.
  for (let i = Math.min(path.length - 1, F.prefix[1]); i > 0; i--) {
    if (path[i] !== 0x2f) continue;
    const name = path.subarray(i + 1);
    if (name.length === 0 || name.length > F.name[1]) return null;
    return { name, prefix: path.subarray(0, i) };
  }
  return null;
}

/** GNU tar's `%d/PaxHeaders/%f`: deterministic, unlike its default with the pid in it. */
function paxHeaderName(path: Buffer): Buffer {
  const trimmed = path[path.length - 1] === 0x2f ? path.subarray(0, -1) : path;
  const slash = trimmed.lastIndexOf(0x2f);
  const dir = slash < 0 ? Buffer.from('.') : trimmed.subarray(0, slash);
  const base = trimmed.subarray(slash + 1);
  return Buffer.concat([dir, Buffer.from('/PaxHeaders/'), base]).subarray(0, F.name[1]);
}

function encodePaxRecords(records: Map<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    // "%d %s=%s\n" where %d counts the whole record, its own digits included.
    const body = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
    let length = body + String(body).length;
    if (String(length).length !== String(body).length) length = body + String(length).length;
    parts.push(Buffer.from(`${length} ${key}=`), value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

function formatPaxTime(time: number): string {
  const seconds = Math.floor(time);
  const fraction = Math.round((time - seconds) * 1e9);
  return fraction === 0 ? String(seconds) : `${seconds}.${String(fraction).padStart(9, '0').replace(/0+$/, '')}`;
}

function writeOctal(block: Buffer, [offset, width]: readonly [number, number], value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\x00`, offset, width, 'latin1');
}

/** Octal when it fits, else a pax record and 0 in the header (as Go's archive/tar does). */
function numberOrPax(block: Buffer, field: readonly [number, number], value: number, key: string, pax: Map<string, Buffer>): void {
  if (value >= 0 && value < 8 ** (field[1] - 1)) writeOctal(block, field, value);
  else {
    pax.set(key, Buffer.from(String(value)));
    writeOctal(block, field, 0);
  }
}

/** Octal when it fits, else GNU base-256 (device numbers have no pax key). */
function writeNumeric(block: Buffer, [offset, width]: readonly [number, number], value: number): void {
  if (value >= 0 && value < 8 ** (width - 1)) {
    writeOctal(block, [offset, width], value);
    return;
  }
  let rest = BigInt(value);
  for (let i = offset + width - 1; i > offset; i--) {
    block[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  block[offset] = 0x80;
}

function writeString(block: Buffer, [offset, width]: readonly [number, number], value: string, key: string, pax: Map<string, Buffer>): void {
  const bytes = Buffer.from(value);
  if (bytes.length <= width) block.set(bytes, offset);
  else pax.set(key, bytes);
}

function writeChecksum(block: Buffer): void {
  block.fill(0x20, F.chksum[0], F.chksum[0] + F.chksum[1]);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\x00 `, F.chksum[0], F.chksum[1], 'latin1');
}

// ---------------------------------------------------------------- decoding

/** A header block as read, before pax and GNU records are folded in. */
export interface RawHeader {
  typeflag: number;
  name: Buffer;
  linkname: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Decodes one 512-byte header block, checking its checksum. `where` names the
 * archive and offset in errors.
 */
export function decodeHeader(block: Buffer, where: string): RawHeader {
  const stored = parseNumeric(block, F.chksum, where, 'checksum');
  // The checksum field counts as spaces; a signed sum differs by 256 for each byte above 127.
  let unsigned = 8 * 0x20;
  let high = 0;
  for (let i = 0; i < BLOCK; i++) {
    if (i === F.chksum[0]) i += F.chksum[1];
    const byte = block[i]!;
    unsigned += byte;
    if (byte > 127) high++;
  }
  const signed = unsigned - 256 * high;
  // Some old writers summed signed chars; both are accepted, as GNU tar does.
  if (stored !== unsigned && stored !== signed) {
    throw new InvalidInputError(where, 'not a tar header (checksum mismatch): corrupt or not a tar archive');
  }
  const ustar = block.toString('latin1', F.magic[0], F.magic[0] + 5) === 'ustar';
  const name = cString(block, F.name);
  const prefix = ustar ? cString(block, F.prefix) : Buffer.alloc(0);
  // GNU's own format ("ustar  ") stores atime/ctime where POSIX has the prefix.
  const gnu = block.toString('latin1', F.magic[0], F.magic[0] + 8) === 'ustar  \x00';
  return {
    typeflag: block[F.typeflag[0]]!,
    name: prefix.length > 0 && !gnu ? Buffer.concat([prefix, Buffer.from('/'), name]) : name,
    linkname: cString(block, F.linkname),
    mode: parseNumeric(block, F.mode, where, 'mode'),
    uid: parseNumeric(block, F.uid, where, 'uid'),
    gid: parseNumeric(block, F.gid, where, 'gid'),
    size: parseNumeric(block, F.size, where, 'size'),
    mtime: parseNumeric(block, F.mtime, where, 'mtime'),
    uname: ustar ? cString(block, F.uname).toString('utf8') : '',
    gname: ustar ? cString(block, F.gname).toString('utf8') : '',
    devmajor: ustar ? parseNumeric(block, F.devmajor, where, 'devmajor') : 0,
    devminor: ustar ? parseNumeric(block, F.devminor, where, 'devminor') : 0,
  };
}

function cString(block: Buffer, [offset, width]: readonly [number, number]): Buffer {
  const field = block.subarray(offset, offset + width);
  const end = field.indexOf(0);
  return Buffer.from(end < 0 ? field : field.subarray(0, end));
}

/** Octal (space/NUL padded) or GNU base-256 (high bit of the first byte set). */
export function parseNumeric(block: Buffer, [offset, width]: readonly [number, number], where: string, field: string): number {
  const first = block[offset]!;
  if (first & 0x80) {
    if (first === 0xff) throw new InvalidInputError(where, `negative ${field} in tar header`);
    let value = BigInt(first & 0x7f);
    for (let i = offset + 1; i < offset + width; i++) value = (value << 8n) | BigInt(block[i]!);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidInputError(where, `${field} too large in tar header`);
    return Number(value);
  }
  // Byte by byte rather than string and regex: this runs several times per member read.
  let start = offset;
  let end = offset + width;
  while (end > start && (block[end - 1] === 0 || block[end - 1] === 0x20)) end--;
  while (start < end && (block[start] === 0x20 || block[start] === 0)) start++;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = block[i]! - 0x30;
    if (digit < 0 || digit > 7) throw new InvalidInputError(where, `bad ${field} field ${JSON.stringify(block.toString('latin1', start, end))} in tar header`);
    value = value * 8 + digit;
  }
  return value;
}

/** Parses the body of a pax 'x' or 'g' member into its records, values as raw bytes. */
export function decodePaxRecords(data: Buffer, where: string): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad the block with NULs
    const space = data.indexOf(0x20, pos);
    const length = space > pos ? Number(data.toString('latin1', pos, space)) : NaN;
    if (!Number.isSafeInteger(length) || length <= 0 || pos + length > data.length || data[pos + length - 1] !== 0x0a) {
      throw new InvalidInputError(where, `malformed pax record at byte ${pos} of the extended header`);
    }
    const record = data.subarray(space + 1, pos + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new InvalidInputError(where, `malformed pax record at byte ${pos} of the extended header`);
    records.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    pos += length;
  }
  return records;
}

const entryTypes = new Map<number, EntryType>([
  [0x30, 'file'],
  [0x00, 'file'],
  [0x37, 'file'], // contiguous file: a regular file to everyone since 1988
  [0x31, 'hardlink'],
  [0x32, 'symlink'],
  [0x33, 'chardev'],
  [0x34, 'blockdev'],
  [0x35, 'directory'],
  [0x36, 'fifo'],
]);

/**
 * Folds pax records (global first, then this member's) and GNU long
 * name/link into a header, giving the entry as its writer meant it.
 */
export function resolveEntry(
  raw: RawHeader,
  pax: Map<string, Buffer> | undefined,
  globalPax: Map<string, Buffer> | undefined,
  gnuLongName: Buffer | undefined,
  gnuLongLink: Buffer | undefined,
  where: string,
): TarEntry {
  let type = entryTypes.get(raw.typeflag);
  // Old (v7) archives mark directories only by the trailing slash.
  if (type === 'file' && raw.typeflag === 0x00 && raw.name[raw.name.length - 1] === 0x2f) type = 'directory';
  if (!type) {
    const flag = String.fromCharCode(raw.typeflag);
    throw new InvalidInputError(where, `unsupported tar entry type '${/[ -~]/.test(flag) ? flag : `\\x${raw.typeflag.toString(16)}`}'`);
  }
  const entry: TarEntry = {
    path: gnuLongName ?? raw.name,
    type,
    mode: raw.mode & 0o7777,
    uid: raw.uid,
    gid: raw.gid,
    size: raw.size,
    mtime: raw.mtime,
  };
  if (gnuLongLink) entry.linkpath = gnuLongLink;
  else if (raw.linkname.length > 0 || type === 'symlink' || type === 'hardlink') entry.linkpath = raw.linkname;
  if (raw.uname) entry.uname = raw.uname;
  if (raw.gname) entry.gname = raw.gname;
  if (type === 'chardev' || type === 'blockdev') {
    entry.devmajor = raw.devmajor;
    entry.devminor = raw.devminor;
  }
  for (const records of [globalPax, pax]) if (records) applyPax(entry, records, where);
  // Links, devices, dirs and fifos carry no body whatever the size field says (as Go's archive/tar reads them).
  if (entry.type !== 'file') entry.size = 0;
  return entry;
}

function applyPax(entry: TarEntry, records: Map<string, Buffer>, where: string): void {
  for (const [key, value] of records) {
    switch (key) {
      case 'path':
        entry.path = value;
        break;
      case 'linkpath':
        entry.linkpath = value;
        break;
      case 'size':
        entry.size = paxInteger(value, key, where);
        break;
      case 'uid':
        entry.uid = paxInteger(value, key, where);
        break;
      case 'gid':
        entry.gid = paxInteger(value, key, where);
        break;
      case 'mtime': {
        const t = Number(value.toString('latin1'));
        if (!Number.isFinite(t)) throw new InvalidInputError(where, `bad pax mtime ${JSON.stringify(value.toString('latin1'))}`);
        entry.mtime = t;
        break;
      }
      case 'uname':
        entry.uname = value.toString('utf8');
        break;
      case 'gname':
        entry.gname = value.toString('utf8');
        break;
      case 'hdrcharset':
        break; // we keep raw bytes whatever the charset
      default:
        if (key.startsWith('SCHILY.xattr.')) {
          (entry.xattrs ??= new Map()).set(key.slice('SCHILY.xattr.'.length), value);
        } else if (key.startsWith('LIBARCHIVE.xattr.')) {
          // bsdtar's own spelling: URL-encoded name, base64 value. SCHILY wins if both are present.
          const name = decodeXattrName(key, `${where}: ${displayPath(records.get('path') ?? entry.path)}`);
          const xattrs = (entry.xattrs ??= new Map());
          if (!xattrs.has(name)) xattrs.set(name, Buffer.from(value.toString('latin1'), 'base64'));
        } else {
          (entry.pax ??= new Map()).set(key, value);
        }
    }
  }
}

/** bsdtar's %-encoded xattr name; a malformed one (a lone %, bytes that are not UTF-8) is the archive's fault. */
function decodeXattrName(key: string, where: string): string {
  try {
    return decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
  } catch {
    throw new InvalidInputError(where, `pax key ${JSON.stringify(key)}: malformed %-encoding of an xattr name`);
  }
}

function paxInteger(value: Buffer, key: string, where: string): number {
  const text = value.toString('latin1');
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new InvalidInputError(where, `bad pax ${key} ${JSON.stringify(text)}`);
  return Number(text);
}
