/**
 * zstd through zstd-napi (libzstd, native). Compression uses its stream; the
 * decompressor is ours because zstd-napi's pushes everything one input chunk
 * expands to, ignoring backpressure: a hostile 64 KiB chunk can expand to
 * gigabytes. Here output goes out 128 KiB at a time and waits for the reader.
 */
import { Duplex } from 'node:stream';
import { CompressStream } from 'zstd-napi';
import binding from 'zstd-napi/binding.js';
import { InvalidInputError } from '../errors.js';

const OUT_SIZE = binding.dStreamOutSize();

export function zstdVersion(): string {
  return binding.versionString();
}

export class ZstdDecompress extends Duplex {
  private readonly dctx = new binding.DCtx();
  /** Input not yet fully decompressed, and the write waiting on it. */
  private input: Buffer | undefined;
  private inputDone: ((error?: Error | null) => void) | undefined;
  private reading = false;
  /** Inside a frame (so the input must not end here). */
  private inFrame = false;

  constructor(private readonly where: string) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.input = chunk;
    this.inputDone = callback;
    if (this.reading) this.work();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.inFrame) {
      callback(new InvalidInputError(this.where, 'corrupt zstd stream: truncated (ends inside a frame)'));
      return;
    }
    this.push(null);
    callback();
  }

  override _read(): void {
    this.reading = true;
    if (this.input) this.work();
  }

  /** Decompresses until the input is used up or the reader has enough. */
  private work(): void {
    let input = this.input!;
    try {
      for (;;) {
        const out = Buffer.allocUnsafe(OUT_SIZE);
        const [hint, produced, consumed] = this.dctx.decompressStream(out, input);
        input = input.subarray(consumed);
        this.inFrame = hint !== 0;
        // A full output buffer may leave more to flush even with no input left.
        const more = input.length > 0 || produced === out.length;
        if (produced > 0 && !this.push(out.subarray(0, produced))) {
          this.reading = false;
          if (more) {
            this.input = input;
            return;
          }
        }
        if (!more) break;
      }
    } catch (err) {
      this.input = undefined;
      this.inputDone!(new InvalidInputError(this.where, `corrupt zstd stream: ${(err as Error).message}`));
      return;
    }
    const done = this.inputDone!;
    this.input = this.inputDone = undefined;
    done();
  }
}

/**
 * Always multi-threaded (nbWorkers ≥ 1): libzstd cuts jobs by size, not by
 * timing, so the output is the same for any worker count ≥ 1; nbWorkers 0 is a
 * different (single-threaded) encoder and is never used. A checksum is
 * written as the zstd CLI does.
 */
export function createZstdCompressor(level: number, threads: number): CompressStream {
  return new CompressStream({ compressionLevel: level, nbWorkers: Math.max(1, threads), checksumFlag: true });
}

/**
 * Whole zstd frames of buffers a codec makes whole (a layer delta's
 * instructions, transports/delta-codec.ts), one context each way reused for
 * every frame: each frame carries its checksum, and decompress throws on a
 * frame that does not decode or check, or that would not fit in `into`.
 */
export class ZstdFrames {
  private readonly cctx = new binding.CCtx();
  private readonly dctx = new binding.DCtx();

  /** The most bytes a frame of `size` input bytes takes. */
  static bound(size: number): number {
    return binding.compressBound(size);
  }

  /** input as one frame at level, written into `into` (at least bound(input.length)); its length. */
  compress(input: Buffer, level: number, into: Buffer): number {
    this.cctx.reset(binding.ResetDirective.sessionAndParameters);
    this.cctx.setParameter(binding.CParameter.compressionLevel, level);
    this.cctx.setParameter(binding.CParameter.checksumFlag, 1);
    return this.cctx.compress2(into, input);
  }

  /** The frame decoded into `into`; the decoded length. */
  decompress(frame: Buffer, into: Buffer): number {
    return this.dctx.decompress(into, frame);
  }
}

