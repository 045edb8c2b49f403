/**
 * A depth-first walk of a tree in GNU tar --sort=name order: each directory
 * before its children, names sorted by raw bytes. One native call per
 * directory lists it, lstats every entry and reads its xattrs
 * (readDirectory in native/rootfs_native.c): a Node fs call costs 2–3 µs on
 * top of its syscall, and a walk is a long run of tiny syscalls. Memory
 * holds one listing per depth level.
 */
import { constants, lstatSync, readdirSync } from 'node:fs';
import { viaShortPath } from '../io/long-path.js';
import { native } from '../native/index.js';
import { readXattrs, type EntryStat } from './entry.js';

export interface WalkEntry {
  /** Path relative to the root, no leading or trailing slash. */
  relative: Buffer;
  absolute: Buffer;
  stat: EntryStat;
  /**
   * For a directory: whether the walk reads its children, true unless the
   * consumer clears it before asking for the next entry.
   */
  descend: boolean;
  /**
   * The entry's extended attributes as readXattrs gives them (read with the
   * listing); throws what reading them threw.
   */
  xattrs(): Map<string, Buffer> | undefined;
}

/** Why an entry or a directory listing could not be read; the walk goes on without it. */
export type WalkError = (absolute: Buffer, err: NodeJS.ErrnoException, during: 'lstat' | 'readdir') => void;

const SLASH = Buffer.from('/');
/** readDirectory's stat fields per entry, in its order. */
const STAT_FIELDS = 11;
const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } = constants;

/** The descendants of `root` (an absolute path, not itself yielded); `selinux` keeps security.selinux in xattrs(). */
export function* walkTree(root: Buffer, onError: WalkError, selinux = false): Generator<WalkEntry, void, undefined> {
  // "/" must not become "//name".
  const base = root.length > 1 && root[root.length - 1] === 0x2f ? root.subarray(0, -1) : root;
  yield* walkDirectory(base.equals(SLASH) ? Buffer.alloc(0) : base, Buffer.alloc(0), onError, selinux);
}

function* walkDirectory(absolute: Buffer, relative: Buffer, onError: WalkError, selinux: boolean): Generator<WalkEntry, void, undefined> {
  const path = absolute.length === 0 ? SLASH : absolute;
  let listing: ReturnType<typeof native.readDirectory>;
  try {
    listing = viaShortPath(path, (short) => native.readDirectory(short, selinux));
  } catch (err) {
    onError(path, asNodeError(path, err), 'readdir');
    return;
  }
  const [names, nameEnds, stats, errors, xattrData, xattrEnds] = listing;
  const unsigned = new BigUint64Array(stats.buffer, stats.byteOffset, stats.length);
  for (let i = 0, start = 0, xattrStart = 0; i < nameEnds.length; xattrStart = xattrEnds[i]!, start = nameEnds[i]!, i++) {
    const name = names.subarray(start, nameEnds[i]);
    const childAbsolute = Buffer.concat([absolute, SLASH, name]);
    const childRelative = relative.length === 0 ? Buffer.from(name) : Buffer.concat([relative, SLASH, name]);
    let stat: EntryStat;
    const statFailed = errors[2 * i] !== 0;
    if (statFailed) {
      // Asked again through Node, for its error (or the entry, if it is back).
      try {
        stat = viaShortPath(childAbsolute, (short) => lstatSync(short, { bigint: true }));
      } catch (err) {
        onError(childAbsolute, err as NodeJS.ErrnoException, 'lstat');
        continue;
      }
    } else {
      stat = new ListedStat(stats, unsigned, i * STAT_FIELDS);
    }
    const reread = statFailed || errors[2 * i + 1] !== 0;
    const entry = new ListedEntry(childRelative, childAbsolute, stat, xattrData, xattrStart, xattrEnds[i]!, reread, selinux);
    yield entry;
    if (entry.descend && stat.isDirectory()) yield* walkDirectory(childAbsolute, childRelative, onError, selinux);
  }
}

/** Node's own error for a directory the addon could not list, by asking Node (the addon's when Node now can). */
function asNodeError(path: Buffer, nativeError: unknown): NodeJS.ErrnoException {
  try {
    viaShortPath(path, (short) => readdirSync(short));
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  return nativeError as NodeJS.ErrnoException;
}

class ListedEntry implements WalkEntry {
  descend: boolean;

  constructor(
    readonly relative: Buffer,
    readonly absolute: Buffer,
    readonly stat: EntryStat,
    private readonly data: Buffer,
    private readonly start: number,
    private readonly end: number,
    /** The batch read failed: read again path by path, which throws the error as Node shapes it. */
    private readonly reread: boolean,
    private readonly selinux: boolean,
  ) {
    this.descend = stat.isDirectory();
  }

  xattrs(): Map<string, Buffer> | undefined {
    if (this.reread) return readXattrs(this.absolute, this.selinux);
    if (this.start === this.end) return undefined;
    const xattrs = new Map<string, Buffer>();
    const data = this.data;
    for (let at = this.start; at < this.end; ) {
      const nameLength = data.readUInt32LE(at);
      const key = data.toString('utf8', at + 4, at + 4 + nameLength);
      at += 4 + nameLength;
      const valueLength = data.readUInt32LE(at);
      xattrs.set(key, Buffer.from(data.subarray(at + 4, at + 4 + valueLength)));
      at += 4 + valueLength;
    }
    return xattrs;
  }
}

/** An entry's lstat from readDirectory, read as BigIntStats reads its fields. */
class ListedStat implements EntryStat {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mode: bigint;
  readonly nlink: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly rdev: bigint;
  readonly size: bigint;
  readonly blocks: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  private readonly type: number;

  constructor(signed: BigInt64Array, unsigned: BigUint64Array, at: number) {
    this.dev = unsigned[at]!;
    this.ino = unsigned[at + 1]!;
    this.mode = unsigned[at + 2]!;
    this.nlink = unsigned[at + 3]!;
    this.uid = unsigned[at + 4]!;
    this.gid = unsigned[at + 5]!;
    this.rdev = unsigned[at + 6]!;
    this.size = unsigned[at + 7]!;
    this.blocks = unsigned[at + 8]!;
    this.mtimeNs = signed[at + 9]!;
    this.ctimeNs = signed[at + 10]!;
    this.type = Number(this.mode) & S_IFMT;
  }

  isDirectory(): boolean {
    return this.type === S_IFDIR;
  }
  isFile(): boolean {
    return this.type === S_IFREG;
  }
  isSymbolicLink(): boolean {
    return this.type === S_IFLNK;
  }
  isCharacterDevice(): boolean {
    return this.type === S_IFCHR;
  }
  isBlockDevice(): boolean {
    return this.type === S_IFBLK;
  }
  isFIFO(): boolean {
    return this.type === S_IFIFO;
  }
  isSocket(): boolean {
    return this.type === S_IFSOCK;
  }
}
