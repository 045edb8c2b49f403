/**
 * A TreeIndex as a file, so that a re-capture need not decompress its base's
 * layers to know what they hold (docs/incremental.md, "The tree index cache").
 *
 * Format 1, little-endian: a 64-byte header (magic, version, node count,
 * name bytes, file count, entries), then one column per per-node array, in
 * trie order (a node's parent before it, as PathIndex numbers them): parent,
 * name length, the names, type, size, the two metadata hash lanes, hardlink
 * rep and name count; then the content sha256 of each node that is its own
 * rep (a file's first name), in node order; then the sha256 of all that.
 * Columns, not a record per node: each is read straight into the typed array
 * it was written from, with no per-node parsing, and the size of the whole
 * file follows from the header, so a read is bounded before it starts.
 *
 * Nodes that hold nothing and lead to nothing (paths a compare looked up and
 * found gone) are dropped when written: the file holds the tree, not the
 * history of lookups.
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { openRegular } from '../io/metadata.js';
import { ENTRY_TYPES, PathIndex, ROOT } from './plan.js';

/** How much of the file is written at once: large enough for few writes, small beside the index itself. */
const chunkBytes = 1 << 20;
import { NO_ENTRY, TreeIndex } from './tree-index.js';

const MAGIC = Buffer.from('RFSTIDX\n');
const VERSION = 1;
const HEADER = 64;
const SUM = 32;
/** Bytes per node in the columns: parent, name length (4 each), type (1), size (8), hash lanes, rep, names (4 each). */
const PER_NODE = 4 + 4 + 1 + 8 + 4 + 4 + 4 + 4;
/** Nodes written per chunk: a chunk of every column stays a few MiB. */
const CHUNK = 1 << 16;
/** Typed arrays are read and written as they lie in memory. */
const littleEndian = endianness() === 'LE';

/** Why a file was not taken as an index: damaged, or written by another version. */
export class TreeIndexFileError extends Error {}

/** The file's bytes, chunk by chunk (a few MiB each), ending with their sha256: for writeFileAtomic. */
export function* treeIndexChunks(tree: TreeIndex): Generator<Buffer> {
  if (!littleEndian) throw new TreeIndexFileError('tree index files are written on little-endian hosts only');
  const { index } = tree;
  tree.fit();
  const count = index.count;
  // Kept: a node that holds an entry, and its ancestors. Children are numbered after their parents.
  const newId = new Int32Array(count).fill(-1);
  const kept = new Uint8Array(count);
  kept[ROOT] = 1;
  for (let node = count - 1; node > ROOT; node--) {
    if (tree.type[node] !== NO_ENTRY || kept[node]) kept[node] = kept[index.parent[node]!] = 1;
  }
  let nodes = 0;
  let nameBytes = 0;
  let files = 0;
  for (let node = 0; node < count; node++) {
    if (!kept[node]) continue;
    newId[node] = nodes++;
    if (node !== ROOT) nameBytes += index.nameLength[node]!;
    if (tree.rep[node] === node) files++;
  }
  const hash = createHash('sha256');
  const out = (chunk: Buffer): Buffer => (hash.update(chunk), chunk);
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(nodes, 12);
  header.writeDoubleLE(nameBytes, 16);
  header.writeUInt32LE(files, 24);
  header.writeDoubleLE(tree.entries, 28);
  yield out(header);

  // Every node kept (nothing was deleted): the arrays are the columns, and the names one run of bytes, as the trie laid them.
  const whole = nodes === count && index.nameStart[count - 1]! + index.nameLength[count - 1]! === nameBytes;
  const view = (array: Int32Array | Uint8Array | Float64Array): Buffer => Buffer.from(array.buffer, array.byteOffset, count * array.BYTES_PER_ELEMENT);

  /** One column: value(node) of each kept node, in chunks; or, all being kept, `array` itself. */
  function* column<T extends Int32Array | Uint8Array | Float64Array>(Type: new (n: number) => T, value: (node: number) => number, array?: T): Generator<Buffer> {
    if (whole && array) {
      yield out(view(array));
      return;
    }
    let chunk = new Type(CHUNK);
    let filled = 0;
    for (let node = 0; node < count; node++) {
      if (!kept[node]) continue;
      chunk[filled++] = value(node);
      if (filled === CHUNK) {
        yield out(Buffer.from(chunk.buffer, 0, chunk.byteLength));
        chunk = new Type(CHUNK);
        filled = 0;
      }
    }
    if (filled > 0) yield out(Buffer.from(chunk.buffer, 0, filled * chunk.BYTES_PER_ELEMENT));
  }
  yield* column(Int32Array, (node) => (node === ROOT ? -1 : newId[index.parent[node]!]!), index.parent);
  yield* column(Int32Array, (node) => (node === ROOT ? 0 : index.nameLength[node]!), index.nameLength);
  if (whole) yield out(index.names.subarray(0, nameBytes));
  else yield* bytes((node) => (node === ROOT ? undefined : index.names.subarray(index.nameStart[node]!, index.nameStart[node]! + index.nameLength[node]!)));
  yield* column(Uint8Array, (node) => tree.type[node]!, tree.type);
  yield* column(Float64Array, (node) => tree.size[node]!, tree.size);
  yield* column(Int32Array, (node) => tree.hashA[node]!, tree.hashA);
  yield* column(Int32Array, (node) => tree.hashB[node]!, tree.hashB);
  yield* column(Int32Array, (node) => (tree.rep[node]! < 0 ? -1 : newId[tree.rep[node]!]!), tree.rep);
  yield* column(Int32Array, (node) => tree.names[node]!, tree.names);
  yield* bytes((node) => (tree.rep[node] === node ? tree.sums.subarray(node * SUM, node * SUM + SUM) : undefined));
  yield hash.digest();

  /** Byte strings of kept nodes, concatenated, in chunks of about chunkBytes. */
  function* bytes(of: (node: number) => Buffer | undefined): Generator<Buffer> {
    const parts: Buffer[] = [];
    let size = 0;
    for (let node = 0; node < count; node++) {
      const part = kept[node] ? of(node) : undefined;
      if (!part) continue;
      parts.push(part);
      size += part.length;
      if (size >= chunkBytes) {
        yield out(Buffer.concat(parts.splice(0), size));
        size = 0;
      }
    }
    if (size > 0) yield out(Buffer.concat(parts, size));
  }
}

/**
 * The index a file holds; TreeIndexFileError when it is not one whole (cut
 * short, bytes changed, another version): the caller builds the index again.
 * A missing file is the open's error (NotFoundError).
 */
export async function readTreeIndexFile(path: string): Promise<TreeIndex> {
  if (!littleEndian) throw new TreeIndexFileError('tree index files are read on little-endian hosts only');
  const { handle, size } = await openRegular(path);
  try {
    const hash = createHash('sha256');
    let position = 0;
    const read = async (into: Buffer): Promise<Buffer> => {
      for (let at = 0; at < into.length; ) {
        const { bytesRead } = await handle.read(into, at, Math.min(into.length - at, 1 << 22), position);
        if (bytesRead === 0) throw new TreeIndexFileError('cut short');
        at += bytesRead;
        position += bytesRead;
      }
      hash.update(into);
      return into;
    };
    const view = (array: Int32Array | Uint8Array | Float64Array, count: number): Buffer => Buffer.from(array.buffer, array.byteOffset, count * array.BYTES_PER_ELEMENT);

    if (size < HEADER + SUM) throw new TreeIndexFileError('cut short');
    const header = await read(Buffer.alloc(HEADER));
    if (!header.subarray(0, MAGIC.length).equals(MAGIC)) throw new TreeIndexFileError('not a tree index file');
    if (header.readUInt32LE(8) !== VERSION) throw new TreeIndexFileError(`format ${header.readUInt32LE(8)}, not ${VERSION}`);
    const count = header.readUInt32LE(12);
    const nameBytes = header.readDoubleLE(16);
    const files = header.readUInt32LE(24);
    const entries = header.readDoubleLE(28);
    // The size the header implies must be the file's: a read is bounded by it before anything is allocated.
    const expected = HEADER + count * PER_NODE + nameBytes + files * SUM + SUM;
    if (count < 1 || files > count || !Number.isSafeInteger(nameBytes) || !Number.isSafeInteger(entries) || expected !== size) {
      throw new TreeIndexFileError(`${size} bytes, not the ${expected} its header implies`);
    }

    const parents = new Int32Array(count);
    const nameLengths = new Int32Array(count);
    await read(view(parents, count));
    await read(view(nameLengths, count));
    const index = PathIndex.load(parents, nameLengths, await read(Buffer.alloc(nameBytes)));
    if (!index) throw new TreeIndexFileError('its paths make no tree');
    const tree = new TreeIndex(index);
    tree.fit();
    await read(view(tree.type, count));
    await read(view(tree.size, count));
    await read(view(tree.hashA, count));
    await read(view(tree.hashB, count));
    await read(view(tree.rep, count));
    await read(view(tree.names, count));
    tree.entries = entries;
    let sums = 0;
    for (let node = 0; node < count; node++) {
      const rep = tree.rep[node]!;
      if (tree.type[node]! > ENTRY_TYPES.length || rep < -1 || rep >= count || (rep >= 0 && tree.rep[rep] !== rep)) throw new TreeIndexFileError(`node ${node}: no such type or hardlink`);
      if (rep === node) sums++;
    }
    if (sums !== files) throw new TreeIndexFileError('files and content sums disagree');
    const slice = Buffer.alloc(Math.min(files, CHUNK) * SUM);
    let node = 0;
    for (let done = 0; done < files; ) {
      const chunk = await read(slice.subarray(0, Math.min(files - done, CHUNK) * SUM));
      for (let at = 0; at < chunk.length; at += SUM, done++) {
        while (tree.rep[node] !== node) node++;
        chunk.copy(tree.sums, node * SUM, at, at + SUM);
        node++;
      }
    }
    const trailer = Buffer.alloc(SUM);
    const { bytesRead } = await handle.read(trailer, 0, SUM, position);
    if (bytesRead !== SUM || !hash.digest().equals(trailer)) throw new TreeIndexFileError('its checksum does not match');
    return tree;
  } finally {
    await handle.close();
  }
}
