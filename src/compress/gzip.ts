/**
 * Parallel, deterministic gzip, the way pigz does it: the input is cut into
 * fixed blocks, each compressed on libuv's thread pool, and the results go
 * out in input order. Block boundaries depend only on the input, never on
 * timing or the number of jobs, so the same input, level and encoder always
 * give the same bytes. Two encoders (docs/compression.md has the figures):
 *
 * - libdeflate (native addon): each block is its own gzip member, as
 *   libdeflate has no streaming and no dictionary. Multi-member gzip is
 *   plain RFC 1952 and every gzip reader takes it; a third of zlib's CPU.
 * - zlib (fallback, or ROOTFS_GZIP_ENCODER=zlib): one member; each block is
 *   raw deflate primed with the previous 32 KiB as dictionary and ended with a
 *   sync flush, so the pieces concatenate into one deflate stream.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { native } from '../native/index.js';

const deflateRaw = promisify(zlib.deflateRaw) as (data: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

const ZLIB_BLOCK = 128 * 1024;
/** Larger than zlib's: with no dictionary across members, a small block costs ratio (docs/compression.md). */
const MEMBER_BLOCK = 1024 * 1024;
const WINDOW = 32 * 1024;

export type GzipEncoder = 'libdeflate' | 'zlib';

export interface GzipOptions {
  /** 1–9 (levels.ts), default 6 (as gzip). */
  level?: number;
  /** Blocks compressed at once, default 2 (bounded by libuv's thread pool, 4 by default). */
  threads?: number;
  /** Default: libdeflate when the addon has it and ROOTFS_GZIP_ENCODER is not "zlib". */
  encoder?: GzipEncoder;
}

/** False when the addon was built without libdeflate (not merely told to use zlib): gzip then costs twice the CPU. */
export function libdeflateBuiltIn(): boolean {
  return native.gzipMember !== undefined;
}

/** The encoder a ParallelGzip uses when not told; the name and version go in `rootfs version`. */
export function defaultGzipEncoder(env: NodeJS.ProcessEnv = process.env): GzipEncoder {
  return libdeflateBuiltIn() && env.ROOTFS_GZIP_ENCODER !== 'zlib' ? 'libdeflate' : 'zlib';
}

/** A stream of gzip; see the file comment. */
export function createGzip(options: GzipOptions = {}): Transform {
  const level = options.level ?? 6;
  const jobs = Math.max(1, options.threads ?? 2);
  const encoder = options.encoder ?? defaultGzipEncoder();
  return encoder === 'libdeflate' ? new MemberGzip(level, jobs) : new ParallelGzip(level, jobs);
}

/** Cuts the input into fixed blocks, compresses `jobs` of them at once and pushes the results in order. */
abstract class BlockCompressor extends Transform {
  /** Input not yet cut into a block. */
  private pendingInput: Buffer[] = [];
  private pendingLength = 0;
  /** Blocks being compressed, oldest first. */
  private readonly inFlight: Promise<Buffer>[] = [];
  private readonly jobs: number;

  constructor(private readonly blockSize: number, workers: number) {
    super();
    // One block more than the workers, so a worker never waits for the main thread to cut the next one.
    this.jobs = workers + 1;
  }

  /** Starts compressing a block; `last` is the (possibly empty) rest of the input. */
  protected abstract compress(block: Buffer, last: boolean): Promise<Buffer> | undefined;
  /** Bytes after the last block's. */
  protected abstract trailer(): Buffer | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pendingInput.push(chunk);
    this.pendingLength += chunk.length;
    this.drainBlocks().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(() => callback(), callback);
  }

  private async drainBlocks(): Promise<void> {
    while (this.pendingLength >= this.blockSize) {
      const all = this.pendingInput.length === 1 ? this.pendingInput[0]! : Buffer.concat(this.pendingInput, this.pendingLength);
      const rest = all.subarray(this.blockSize);
      this.pendingInput = rest.length > 0 ? [rest] : [];
      this.pendingLength = rest.length;
      this.start(all.subarray(0, this.blockSize), false);
      if (this.inFlight.length >= this.jobs) this.push(await this.inFlight.shift()!);
    }
  }

  private async finish(): Promise<void> {
    await this.drainBlocks();
    this.start(Buffer.concat(this.pendingInput, this.pendingLength), true);
    for (const job of this.inFlight.splice(0)) this.push(await job);
    const trailer = this.trailer();
    if (trailer) this.push(trailer);
  }

  private start(block: Buffer, last: boolean): void {
    const job = this.compress(block, last);
    if (!job) return;
    // Awaited in order later; until then a failure must not count as unhandled.
    job.catch(() => {});
    this.inFlight.push(job);
  }
}

/** libdeflate: one gzip member per block, header and CRC made by the worker too. */
class MemberGzip extends BlockCompressor {
  private blocks = 0;

  constructor(private readonly level: number, jobs: number) {
    super(MEMBER_BLOCK, jobs);
  }

  protected compress(block: Buffer, last: boolean): Promise<Buffer> | undefined {
    // An empty input is still one (empty) member; an empty tail after full blocks adds nothing.
    if (last && block.length === 0 && this.blocks > 0) return undefined;
    this.blocks++;
    return native.gzipMember!(block, this.level);
  }

  protected trailer(): undefined {
    return undefined;
  }
}

/** zlib: one member whose blocks are chained by their dictionaries. */
class ParallelGzip extends BlockCompressor {
  /** The tail of the last block handed out, the next block's dictionary. */
  private dictionary: Buffer | undefined;
  private crc = 0;
  private size = 0;

  constructor(private readonly level: number, jobs: number) {
    super(ZLIB_BLOCK, jobs);
    this.push(gzipHeader(level));
  }

  protected compress(block: Buffer, last: boolean): Promise<Buffer> {
    this.crc = zlib.crc32(block, this.crc);
    this.size += block.length;
    const options: zlib.ZlibOptions = { level: this.level, finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH };
    if (this.dictionary) options.dictionary = this.dictionary;
    const job = deflateRaw(block, options);
    // Copied, so a 32 KiB tail does not keep alive the whole chunk it was sliced from.
    this.dictionary = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
    return job;
  }

  protected trailer(): Buffer {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.size % 2 ** 32, 4);
    return trailer;
  }
}

/** RFC 1952 header: no name, mtime 0, OS 3 (Unix), so the output never depends on the host or the clock. */
function gzipHeader(level: number): Buffer {
  const extraFlags = level >= 9 ? 2 : level <= 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extraFlags, 3]);
}
