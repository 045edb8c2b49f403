/**
 * A layer's tar as a patch against a tar the receiving site holds: the
 * delta blob a delta archive carries (docs/formats.md, "Delta layers").
 * Memory stays flat whatever the layer's size: the new tar is cut into
 * CHUNK-byte pieces, each one patched against a window of at most WINDOW
 * bytes read from the reference tar, which is spooled, decompressed, to a
 * temp file so that any part of it can be read by offset; a 20 GB reference
 * is never in memory.
 *
 * The patch of a chunk: its bytes as copies from the window (found through
 * an index of the window's BLOCK-byte blocks and a rolling hash over the
 * chunk, then extended both ways byte by byte) and literals, the whole
 * compressed as one zstd frame with its content checksum. Not zstd's own
 * patch-from: zstd-napi has no refPrefix, and a dictionary loaded with
 * loadDictionary is matched only within a window sized for the source, so a
 * 32 MiB reference window found nothing beyond its last few MiB
 * (docs/benchmarks.md, "Delta layers").
 *
 * Which window: the segments of the reference where the chunk's members'
 * paths are (and the one it starts inside, from as far into it as the chunk
 * starts), then the stretch where the chunk would be if everything had moved
 * by the last member's shift. Two captures of one tree mostly hold the same
 * members in the same order, so the segments merge into one; a tar written
 * by another tool, in another order, still finds each member where it is.
 * Offset alone lost the alignment after the first package inserted, and one
 * stretch per chunk lost it for every member of a reordered tar.
 *
 * The blob: a header, then per chunk a record (the chunk's length, the
 * frame's length, the chunk's CRC-32, the window's segments) and the frame,
 * then an all-zero record. Every length is bounded on read, so a hostile
 * delta cannot make the rebuild allocate more than a chunk, a window and a
 * frame.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { ZstdFrames } from '../compress/zstd.js';
import { InvalidInputError } from '../errors.js';
import { DigestStream } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import { Tap } from '../io/streams.js';
import { TarProbe } from '../tar/reader.js';

const MiB = 1024 * 1024;
/** Bytes of the new tar per frame. */
export const CHUNK = 8 * MiB;
/** Bytes of the reference a chunk may copy from: a quarter of it before the aligned offset, the rest after. */
export const WINDOW = 16 * MiB;
/** The window is indexed by blocks of this size: the shortest copy. */
const BLOCK = 32;
const PRIME = 0x01000193;
/** PRIME ** (BLOCK - 1), mod 2^32: what the byte leaving the rolling hash weighs. */
const OUTGOING = Array.from({ length: BLOCK - 1 }).reduce<number>((power) => Math.imul(power, PRIME), 1);
/**
 * The frame's level: 19 when the chunk is mostly copies (its literals, the new
 * content, are at most a quarter: a second or so), 6 otherwise, so that a
 * chunk of new content (or a delta against an unrelated layer, which then
 * goes whole) costs about what compressing it does. docs/benchmarks.md.
 */
const levelFor = (literals: number): number => (literals <= CHUNK / 4 ? 19 : 6);

const MAGIC = Buffer.from('rootfs-layer-delta\n\0');
export const deltaVersion = 1;
const HEADER = MAGIC.length + 4;
/** A chunk's record: its length (0 ends the blob), the frame's length, the chunk's CRC-32, the number of segments; then the segments. */
const RECORD = 16;
/** A segment of the window: the offset in the reference (u48, after two zero bytes) and the length (u32). */
const SEGMENT = 12;
/** Bytes of the reference read past a member's span in the chunk: its new version may have grown. */
const SLACK = 4096;
/** At most this many segments a chunk (a chunk of tiny members, each elsewhere in the reference). */
const SEGMENTS_PER_CHUNK = 65_536;

interface Anchor {
  offset: number;
  key: number;
}

interface Segment {
  start: number;
  length: number;
}

/**
 * The segments to read, in the order wanted, each clipped to the reference,
 * overlaps with those before it cut away, until WINDOW bytes (or SEGMENTS_PER_CHUNK)
 * are taken; adjacent ones merged (members in the same order in both tars
 * make one long segment).
 */
function budget(wanted: Segment[], size: number): Segment[] {
  const taken: Segment[] = [];
  let total = 0;
  for (const want of wanted) {
    let start = Math.max(0, want.start);
    let end = Math.min(size, want.start + want.length);
    for (const have of taken) {
      // Trim what earlier segments hold already (only the ends: a segment inside this one is read twice, harmlessly).
      if (have.start <= start && start < have.start + have.length) start = have.start + have.length;
      if (have.start < end && end <= have.start + have.length) end = have.start;
    }
    end = Math.min(end, start + WINDOW - total);
    if (end <= start) continue;
    const last = taken[taken.length - 1];
    if (last && last.start + last.length === start) last.length += end - start;
    else if (taken.length < SEGMENTS_PER_CHUNK) taken.push({ start, length: end - start });
    else break;
    total += end - start;
    if (total >= WINDOW) break;
  }
  return taken;
}
/** What a frame may decompress to: a chunk's bytes plus at most a few varints per BLOCK-byte copy. */
const instructionsCap = (length: number): number => length + 32 * (Math.ceil(length / BLOCK) + 2);

/** A reference tar spooled to a file, and where each of its members starts. */
export interface SpooledReference {
  path: string;
  size: number;
  diffId: Digest;
  /** Where each member path starts (its first header); 16 bytes a member, not a Map's 80. */
  offsets: OffsetIndex;
}

/** A member path's key, the same for `./usr/`, `usr/` and `/usr` (GNU tar's `-C DIR .` writes `./`, rootfs pack does not). */
function pathKey(path: Buffer): number {
  let start = 0;
  let end = path.length;
  for (;;) {
    if (path[start] === 0x2f) start++;
    else if (path[start] === 0x2e && path[start + 1] === 0x2f) start += 2;
    else break;
  }
  while (end > start && path[end - 1] === 0x2f) end--;
  return createHash('sha1').update(path.subarray(start, end)).digest().readUIntBE(0, 6);
}

/** Writes the (uncompressed) reference tar to path, noting its members' offsets and its sha256. */
export async function spoolReference(tar: Readable, path: string, where: string): Promise<SpooledReference> {
  const offsets = new OffsetIndex();
  const probe = new TarProbe(where, (entry, offset) => offsets.add(pathKey(entry.path), offset));
  const digest = new DigestStream();
  await pipeline(tar, digest, new Tap((chunk) => probe.feed(chunk), async () => probe.end()), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  offsets.seal();
  return { path, size: digest.size, diffId: digest.digest, offsets };
}

/**
 * Path keys and offsets in two growing Float64Arrays, sorted by key once
 * complete and then searched: a million members (a 20 GB layer has that
 * many) cost 16 MB here, 80 MB in a Map. A path twice in one tar (a file
 * written again) is found at its first header.
 */
export class OffsetIndex {
  private keys = new Float64Array(1024);
  private offsets = new Float64Array(1024);
  private count = 0;

  add(key: number, offset: number): void {
    if (this.count === this.keys.length) {
      const keys = new Float64Array(this.count * 2);
      keys.set(this.keys);
      this.keys = keys;
      const offsets = new Float64Array(this.count * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
    }
    this.keys[this.count] = key;
    this.offsets[this.count++] = offset;
  }

  /** Sorts by key, the first of equal keys first; add() is done with. */
  seal(): void {
    const order = new Uint32Array(this.count).map((_, i) => i);
    order.sort((a, b) => this.keys[a]! - this.keys[b]! || a - b);
    const keys = new Float64Array(this.count);
    const offsets = new Float64Array(this.count);
    order.forEach((from, to) => {
      keys[to] = this.keys[from]!;
      offsets[to] = this.offsets[from]!;
    });
    this.keys = keys;
    this.offsets = offsets;
  }

  get(key: number): number | undefined {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.keys[middle]! < key) low = middle + 1;
      else high = middle;
    }
    return low < this.count && this.keys[low] === key ? this.offsets[low] : undefined;
  }
}

/** The patch of `target` (an uncompressed tar) against the spooled reference, as the bytes of a delta blob. */
export async function* encodeDelta(reference: SpooledReference, target: AsyncIterable<Buffer>, where: string): AsyncGenerator<Buffer> {
  const file = await open(reference.path, 'r');
  const frames = new ZstdFrames();
  try {
    const header = Buffer.alloc(HEADER);
    MAGIC.copy(header);
    header.writeUInt32BE(deltaVersion, MAGIC.length);
    yield header;
    // Member starts in the target not yet passed by a chunk start, in order; the last one passed covers the chunk's start.
    const anchors: Anchor[] = [];
    const probe = new TarProbe(where, (entry, offset) => anchors.push({ offset, key: pathKey(entry.path) }));
    let covering: Anchor | undefined;
    let shift = 0;
    let position = 0;
    const chunk = Buffer.allocUnsafe(CHUNK);
    let filled = 0;
    const frame = Buffer.allocUnsafe(ZstdFrames.bound(instructionsCap(CHUNK)));
    const windowBuffer = Buffer.allocUnsafe(WINDOW);
    const index = new BlockIndex();
    const instructions = new Instructions(instructionsCap(CHUNK));
    const emit = async (length: number): Promise<Buffer[]> => {
      const end = position + length;
      // Each member in the chunk, read from where the same path is in the reference.
      const wanted: Segment[] = [];
      const inChunk = (covering ? [covering] : []).concat(anchors.filter((anchor) => anchor.offset < end));
      inChunk.forEach((anchor, i) => {
        const there = reference.offsets.get(anchor.key);
        if (there === undefined) return;
        shift = there - anchor.offset;
        const from = Math.max(anchor.offset, position);
        const to = Math.min(inChunk[i + 1]?.offset ?? end, end);
        wanted.push({ start: there + (from - anchor.offset), length: to - from + SLACK });
      });
      // The rest of the budget: the stretch where the chunk would be if nothing had moved but the last shift.
      const aligned = position + shift;
      wanted.push({ start: aligned - WINDOW / 4, length: WINDOW });
      const segments = budget(wanted, reference.size);
      let windowLength = 0;
      for (const segment of segments) windowLength += (await readAt(file, segment.start, segment.length, windowBuffer.subarray(windowLength))).length;
      const window = windowBuffer.subarray(0, windowLength);
      patch(window, chunk.subarray(0, length), index, instructions);
      const written = frames.compress(instructions.bytes(), levelFor(instructions.literals), frame);
      const record = Buffer.alloc(RECORD + SEGMENT * segments.length);
      record.writeUInt32BE(length, 0);
      record.writeUInt32BE(written, 4);
      record.writeUInt32BE(zlib.crc32(chunk.subarray(0, length)), 8);
      record.writeUInt32BE(segments.length, 12);
      segments.forEach((segment, i) => {
        record.writeUIntBE(segment.start, RECORD + SEGMENT * i + 2, 6);
        record.writeUInt32BE(segment.length, RECORD + SEGMENT * i + 8);
      });
      // Anchors before the next chunk's start are done with, but the last of them covers it.
      while (anchors.length > 0 && anchors[0]!.offset <= end) covering = anchors.shift();
      position = end;
      return [record, Buffer.from(frame.subarray(0, written))];
    };
    for await (const data of target) {
      probe.feed(data);
      let used = 0;
      while (used < data.length) {
        const n = Math.min(CHUNK - filled, data.length - used);
        data.copy(chunk, filled, used, used + n);
        filled += n;
        used += n;
        if (filled === CHUNK) {
          yield* await emit(filled);
          filled = 0;
        }
      }
    }
    probe.end();
    if (filled > 0) yield* await emit(filled);
    yield Buffer.alloc(RECORD);
  } finally {
    await file.close();
  }
}

/** A block's hash, as the rolling hash gives it when the block is under it. */
function blockHash(data: Buffer, at: number): number {
  let hash = 0;
  for (let i = at; i < at + BLOCK; i++) hash = (Math.imul(hash, PRIME) + data[i]!) | 0;
  return hash;
}

/** The slot of a hash in a table of 2^bits slots (the multiply mixes the low bits a byte hash leaves weak). */
function slotOf(hash: number, bits: number): number {
  return Math.imul(hash, 0x9e3779b1) >>> (32 - bits);
}

/**
 * The chunk as instructions over the window: repeated (literal length,
 * literal bytes, copy length, copy offset if the length is not 0), varints;
 * the last copy length is 0.
 */
function patch(window: Buffer, chunk: Buffer, index: BlockIndex, out: Instructions): void {
  const { hashes, starts, bits } = index.build(window);
  const mask = (1 << bits) - 1;
  out.reset();
  const n = chunk.length;
  let literal = 0;
  let i = 0;
  let hash = n >= BLOCK ? blockHash(chunk, 0) : 0;
  while (i + BLOCK <= n) {
    let found = -1;
    for (let slot = slotOf(hash, bits); starts[slot] !== 0; slot = (slot + 1) & mask) {
      if (hashes[slot] === hash) {
        found = starts[slot]! - 1;
        break;
      }
    }
    if (found >= 0 && chunk.compare(window, found, found + BLOCK, i, i + BLOCK) === 0) {
      let from = i;
      let at = found;
      while (from > literal && at > 0 && chunk[from - 1] === window[at - 1]) {
        from--;
        at--;
      }
      let end = i + BLOCK;
      let there = found + BLOCK;
      while (end < n && there < window.length && chunk[end] === window[there]) {
        end++;
        there++;
      }
      out.step(chunk.subarray(literal, from), end - from, at);
      literal = i = end;
      if (i + BLOCK <= n) hash = blockHash(chunk, i);
      continue;
    }
    if (i + BLOCK < n) hash = (Math.imul((hash - Math.imul(chunk[i]!, OUTGOING)) | 0, PRIME) + chunk[i + BLOCK]!) | 0;
    i++;
  }
  out.step(chunk.subarray(literal), 0, 0);
}

/** The window's BLOCK-byte blocks by hash, open addressing; its arrays kept for the next window of the same size. */
class BlockIndex {
  hashes = new Int32Array(0);
  /** Block start + 1; 0 is an empty slot. The first block with a hash keeps it. */
  starts = new Int32Array(0);
  bits = 0;

  build(window: Buffer): this {
    const blocks = Math.floor(window.length / BLOCK);
    const bits = Math.max(4, Math.ceil(Math.log2(blocks * 2 + 1)));
    if (bits !== this.bits) {
      this.bits = bits;
      this.hashes = new Int32Array(1 << bits);
      this.starts = new Int32Array(1 << bits);
    } else this.starts.fill(0);
    const { hashes, starts } = this;
    const mask = (1 << bits) - 1;
    for (let k = 0; k < blocks; k++) {
      const hash = blockHash(window, k * BLOCK);
      for (let slot = slotOf(hash, bits); ; slot = (slot + 1) & mask) {
        if (starts[slot] === 0) {
          hashes[slot] = hash;
          starts[slot] = k * BLOCK + 1;
          break;
        }
        if (hashes[slot] === hash) break;
      }
    }
    return this;
  }
}

/** The instruction stream being written, in one buffer of its cap. */
class Instructions {
  private readonly buffer: Buffer;
  private length = 0;
  /** Bytes of the chunk given as literals: what the patch could not find in the window. */
  literals = 0;

  constructor(cap: number) {
    this.buffer = Buffer.allocUnsafe(cap);
  }

  step(literal: Buffer, copy: number, offset: number): void {
    this.varint(literal.length);
    this.literals += literal.length;
    literal.copy(this.buffer, this.length);
    this.length += literal.length;
    this.varint(copy);
    if (copy > 0) this.varint(offset);
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
    this.literals = 0;
  }

  private varint(value: number): void {
    while (value >= 0x80) {
      this.buffer[this.length++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.length++] = value;
  }
}

/** Up to length bytes at start (fewer at the end of the file), into `into` when given: the big buffers are reused chunk after chunk, not left to the collector. */
async function readAt(file: FileHandle, start: number, length: number, into?: Buffer): Promise<Buffer> {
  const buffer = into ?? Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, start + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/**
 * The tar a delta blob rebuilds from the spooled reference. Anything that
 * does not add up (a bad header, a length over its bound, a frame that does
 * not decompress or fails its checksum, an instruction reaching outside the
 * window or the chunk) is an InvalidInputError naming `where`, the delta blob.
 */
export async function* decodeDelta(deltaPath: string, reference: { path: string; size: number }, where: string): AsyncGenerator<Buffer> {
  const delta = await open(deltaPath, 'r');
  const file = await open(reference.path, 'r');
  const frames = new ZstdFrames();
  const windowBuffer = Buffer.allocUnsafe(WINDOW);
  const instructionsBuffer = Buffer.allocUnsafe(instructionsCap(CHUNK));
  const fail = (detail: string): never => {
    throw new InvalidInputError(where, `not a rootfs layer delta: ${detail}`);
  };
  try {
    const header = await readAt(delta, 0, HEADER);
    if (header.length < HEADER || !header.subarray(0, MAGIC.length).equals(MAGIC)) fail('bad header');
    if (header.readUInt32BE(MAGIC.length) !== deltaVersion) fail(`version ${header.readUInt32BE(MAGIC.length)} (this rootfs reads version ${deltaVersion})`);
    let at = HEADER;
    for (;;) {
      const record = await readAt(delta, at, RECORD);
      if (record.length < RECORD) fail(`truncated at byte ${at}`);
      const length = record.readUInt32BE(0);
      const frameLength = record.readUInt32BE(4);
      const count = record.readUInt32BE(12);
      if (length === 0) {
        if (record.some((byte) => byte !== 0)) fail(`bad end record at byte ${at}`);
        if ((await readAt(delta, at + RECORD, 1)).length > 0) fail(`bytes after the end record at byte ${at + RECORD}`);
        return;
      }
      const cap = instructionsCap(length);
      if (length > CHUNK || count > SEGMENTS_PER_CHUNK || frameLength > ZstdFrames.bound(cap)) fail(`record at byte ${at} out of bounds`);
      const table = await readAt(delta, at + RECORD, SEGMENT * count);
      if (table.length < SEGMENT * count) fail(`truncated at byte ${at + RECORD}`);
      let windowLength = 0;
      const segments: Segment[] = [];
      for (let i = 0; i < count; i++) {
        const segment = { start: table.readUIntBE(SEGMENT * i + 2, 6), length: table.readUInt32BE(SEGMENT * i + 8) };
        if (table.readUInt16BE(SEGMENT * i) !== 0 || segment.start + segment.length > reference.size || windowLength + segment.length > WINDOW) fail(`record at byte ${at}: segment ${i} out of bounds`);
        windowLength += segment.length;
        segments.push(segment);
      }
      at += RECORD + SEGMENT * count;
      const frame = await readAt(delta, at, frameLength);
      if (frame.length < frameLength) fail(`truncated at byte ${at}`);
      const instructions = instructionsBuffer;
      let size = 0;
      try {
        size = frames.decompress(frame, instructions);
      } catch (err) {
        fail(`frame at byte ${at}: ${(err as Error).message}`);
      }
      let filled = 0;
      for (const segment of segments) filled += (await readAt(file, segment.start, segment.length, windowBuffer.subarray(filled))).length;
      const rebuilt = apply(instructions.subarray(0, size), windowBuffer.subarray(0, filled), length, (detail) => fail(`frame at byte ${at}: ${detail}`));
      // The frame's checksum covers the instructions; this, what they made of the reference.
      if (zlib.crc32(rebuilt) !== record.readUInt32BE(8)) fail(`chunk at byte ${at} does not rebuild its checksum: is the reference the one it was made against?`);
      yield rebuilt;
      at += frameLength;
    }
  } finally {
    await Promise.all([delta.close(), file.close()]);
  }
}

/** The chunk the instructions make from the window, exactly `length` bytes, or `fail`. */
function apply(instructions: Buffer, window: Buffer, length: number, fail: (detail: string) => never): Buffer {
  const out = Buffer.allocUnsafe(length);
  let produced = 0;
  let at = 0;
  const varint = (): number => {
    let value = 0;
    // Seven bytes hold any offset or length here (49 bits); more is not a varint we wrote.
    for (let scale = 1, bytes = 0; ; scale *= 0x80, bytes++) {
      if (at >= instructions.length || bytes === 7) fail('instructions cut short');
      const byte = instructions[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  };
  for (;;) {
    const literal = varint();
    if (literal > length - produced || literal > instructions.length - at) fail('a literal longer than what is left');
    instructions.copy(out, produced, at, at + literal);
    at += literal;
    produced += literal;
    const copy = varint();
    if (copy === 0) break;
    const offset = varint();
    if (copy > length - produced || offset + copy > window.length) fail('a copy outside the window or the chunk');
    window.copy(out, produced, offset, offset + copy);
    produced += copy;
  }
  if (produced !== length || at !== instructions.length) fail(`instructions make ${produced} bytes of ${length}`);
  return out;
}
