/**
 * What a tree held at each path, kept small enough for a whole host: one
 * trie node per path (the merge plan's PathIndex) and, per node, the entry's
 * type, size, a 64-bit hash of the rest of its metadata, and which content it
 * shares with its hardlinks, and a sha256 of each file's content (32 bytes a
 * file): the content is read through anyway, and hashing it costs little
 * beside its decompression. No header object and no content is kept.
 *
 * It is built from a stream of members (an image's flattened layers) and
 * compared against another (compare.ts).
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { displayPath, InvalidInputError } from '../errors.js';
import type { TarEntry } from '../tar/header.js';
import { safeLinkTarget, safeMemberPath } from '../tar/paths.js';
import type { TreeMember } from './members.js';
import { ENTRY_TYPES, PathIndex } from './plan.js';

/** type[] codes: 0 is "nothing here", else 1 + the ENTRY_TYPES index (a hardlink is stored as what it links to). */
export const NO_ENTRY = 0;
export const FILE = 1 + ENTRY_TYPES.indexOf('file');
export const DIRECTORY = 1 + ENTRY_TYPES.indexOf('directory');
const typeCode = new Map(ENTRY_TYPES.map((type, code) => [type, code + 1]));

export class TreeIndex {
  /** index: the trie of paths, shared with another tree's index when this one describes what a compare saw (compare.ts `record`). */
  constructor(readonly index = new PathIndex(1, true)) {}

  type = new Uint8Array(1024);
  size = new Float64Array(1024);
  /** Two 32-bit lanes of metaHash(). */
  hashA = new Int32Array(1024);
  hashB = new Int32Array(1024);
  /** The node whose content a file or hardlink has (its own for a file, its target's for a hardlink); -1 for other types. */
  rep = new Int32Array(1024).fill(-1);
  /** At a rep node: how many names share its content. */
  names = new Int32Array(1024);
  /** sha256 of the content, at each rep node. */
  sums = Buffer.alloc(1024 * 32);
  entries = 0;

  /** The node at a normalised path, with room for it in every array. */
  node(path: Buffer): number {
    const node = this.index.lookup(path);
    this.fit();
    return node;
  }

  /** Grows the per-node arrays to the trie's size (nodes are made by lookups elsewhere too). */
  fit(): void {
    const count = this.index.count;
    if (count <= this.type.length) return;
    let capacity = this.type.length;
    while (capacity < count) capacity *= 2;
    const grow = <T extends Uint8Array | Int32Array | Float64Array>(from: T, fill = 0): T => {
      const array = new (from.constructor as new (n: number) => T)(capacity);
      array.set(from);
      if (fill !== 0) array.fill(fill, from.length);
      return array;
    };
    this.type = grow(this.type);
    this.size = grow(this.size);
    this.hashA = grow(this.hashA);
    this.hashB = grow(this.hashB);
    this.rep = grow(this.rep, -1);
    this.names = grow(this.names);
    const sums = Buffer.alloc(capacity * 32);
    this.sums.copy(sums);
    this.sums = sums;
  }

  /** Whether `entry` (a non-hardlink) has the metadata recorded at node. */
  sameMetadata(node: number, entry: TarEntry): boolean {
    const [a, b] = metaHash(entry);
    return this.type[node] === typeCode.get(entry.type) && this.hashA[node] === a && this.hashB[node] === b;
  }

  /** Records a non-hardlink entry. */
  record(node: number, entry: TarEntry): void {
    const [a, b] = metaHash(entry);
    this.type[node] = typeCode.get(entry.type)!;
    this.size[node] = entry.size;
    this.hashA[node] = a;
    this.hashB[node] = b;
    if (entry.type === 'file') {
      this.rep[node] = node;
      this.names[node] = 1;
    }
  }

  /** Records a hardlink at node to the file at target: the same metadata and content. */
  recordLink(node: number, target: number): void {
    const rep = this.rep[target]!;
    this.type[node] = this.type[target]!;
    this.size[node] = this.size[target]!;
    this.hashA[node] = this.hashA[target]!;
    this.hashB[node] = this.hashB[target]!;
    this.rep[node] = rep;
    this.names[rep]!++;
  }
}

/** Indexes a tree. Every file body is read through (a tar's bytes must pass anyway) and hashed. */
export async function indexTree(members: AsyncIterable<TreeMember>, where: string): Promise<TreeIndex> {
  const tree = new TreeIndex();
  for await (const { entry, content } of members) {
    tree.entries++;
    const path = safeMemberPath(entry.path, where);
    const node = tree.node(path);
    if (entry.type === 'hardlink') {
      const target = tree.node(safeLinkTarget(entry.linkpath ?? Buffer.alloc(0), `${where}: ${displayPath(path)}`));
      if (tree.rep[target]! < 0) throw new InvalidInputError(`${where}: ${displayPath(path)}`, `hardlink to '${displayPath(entry.linkpath!)}', which is not a file before it`);
      tree.recordLink(node, target);
      continue;
    }
    tree.record(node, entry);
    if (content) (await contentSum(content())).copy(tree.sums, node * 32);
  }
  return tree;
}

/** sha256 of a content stream, read to its end. */
export async function contentSum(content: NodeJS.ReadableStream): Promise<Buffer> {
  const hash = createHash('sha256');
  await pipeline(
    content,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback();
      },
    }),
  );
  return hash.digest();
}

/**
 * What a compare looks at besides type and size, as rsync does without
 * --checksum: mode, owner, whole-second mtime, size, link target, device
 * numbers and xattrs. Owner names are left out (numeric owners are what
 * unpack restores). Two independent 32-bit lanes: a false "same" needs both
 * to collide.
 */
function metaHash(entry: TarEntry): [number, number] {
  let a = 0x811c9dc5 | 0;
  let b = 0x9747b28c | 0;
  const number = (value: number): void => {
    const low = value % 0x100000000 | 0;
    const high = Math.floor(value / 0x100000000) | 0;
    a = Math.imul(a ^ low, 0x01000193);
    a = Math.imul(a ^ high, 0x01000193);
    b = Math.imul(b ^ low, 0x5bd1e995);
    b ^= b >>> 13;
    b = Math.imul(b ^ high, 0x5bd1e995);
    b ^= b >>> 15;
  };
  const bytes = (value: Buffer): void => {
    number(value.length);
    for (let i = 0; i < value.length; i++) {
      a = Math.imul(a ^ value[i]!, 0x01000193);
      b = Math.imul(b ^ value[i]!, 0x5bd1e995);
      b ^= b >>> 15;
    }
  };
  number(entry.mode & 0o7777);
  number(entry.uid);
  number(entry.gid);
  number(Math.floor(entry.mtime));
  number(entry.type === 'file' ? entry.size : 0);
  if (entry.type === 'symlink') bytes(entry.linkpath ?? Buffer.alloc(0));
  if (entry.type === 'chardev' || entry.type === 'blockdev') {
    number(entry.devmajor ?? 0);
    number(entry.devminor ?? 0);
  }
  if (entry.xattrs && entry.xattrs.size > 0) {
    for (const name of [...entry.xattrs.keys()].sort()) {
      bytes(Buffer.from(name));
      bytes(entry.xattrs.get(name)!);
    }
  }
  return [a, b];
}
