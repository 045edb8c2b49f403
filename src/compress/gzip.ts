/**
 * Parallel, deterministic gzip, the way pigz does it: the input is cut into
 * fixed blocks, each deflated on libuv's thread pool as raw deflate primed
 * with the previous 32 KiB as dictionary and ended with a sync flush (so the
 * pieces concatenate into one deflate stream); the last ends the stream.
 * Block boundaries depend only on the input, never on timing or the number of
 * jobs, so the same input and level always give the same bytes.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const deflateRaw = promisify(zlib.deflateRaw) as (data: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

const BLOCK_SIZE = 128 * 1024;
const WINDOW = 32 * 1024;

export interface GzipOptions {
  /** 1–9 (levels.ts), default 6 (as gzip). */
  level?: number;
  /** Blocks deflated at once, default 2 (bounded by libuv's thread pool, 4 by default). */
  threads?: number;
}

export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly jobs: number;
  /** Input not yet cut into a block. */
  private pendingInput: Buffer[] = [];
  private pendingLength = 0;
  /** The tail of the last block handed out, the next block's dictionary. */
  private dictionary: Buffer | undefined;
  /** Blocks being deflated, oldest first; their output goes out in this order. */
  private readonly inFlight: Promise<Buffer>[] = [];
  private crc = 0;
  private size = 0;

  constructor(options: GzipOptions = {}) {
    super();
    this.level = options.level ?? 6;
    // One block more than the workers, so a worker never waits for the main thread to cut the next one.
    this.jobs = Math.max(1, options.threads ?? 2) + 1;
    this.push(gzipHeader(this.level));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.crc = zlib.crc32(chunk, this.crc);
    this.size += chunk.length;
    this.pendingInput.push(chunk);
    this.pendingLength += chunk.length;
    this.drainBlocks().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(() => callback(), callback);
  }

  private async drainBlocks(): Promise<void> {
    while (this.pendingLength >= BLOCK_SIZE) {
      const all = this.pendingInput.length === 1 ? this.pendingInput[0]! : Buffer.concat(this.pendingInput, this.pendingLength);
      const block = all.subarray(0, BLOCK_SIZE);
      const rest = all.subarray(BLOCK_SIZE);
      this.pendingInput = rest.length > 0 ? [rest] : [];
      this.pendingLength = rest.length;
      this.start(block, zlib.constants.Z_SYNC_FLUSH);
      if (this.inFlight.length >= this.jobs) this.push(await this.inFlight.shift()!);
    }
  }

  private async finish(): Promise<void> {
    await this.drainBlocks();
    this.start(Buffer.concat(this.pendingInput, this.pendingLength), zlib.constants.Z_FINISH);
    for (const job of this.inFlight.splice(0)) this.push(await job);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.size % 2 ** 32, 4);
    this.push(trailer);
  }

  private start(block: Buffer, finishFlush: number): void {
    const options: zlib.ZlibOptions = { level: this.level, finishFlush };
    if (this.dictionary) options.dictionary = this.dictionary;
    const job = deflateRaw(block, options);
    // Awaited in order later; until then a failure must not count as unhandled.
    job.catch(() => {});
    this.inFlight.push(job);
    // Copied, so a 32 KiB tail does not keep alive the whole chunk it was sliced from.
    this.dictionary = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
  }
}

/** RFC 1952 header: no name, mtime 0, OS 3 (Unix), so the output never depends on the host or the clock. */
function gzipHeader(level: number): Buffer {
  const extraFlags = level >= 9 ? 2 : level <= 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extraFlags, 3]);
}
