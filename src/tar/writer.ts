/**
 * A streaming tar writer: entries go in through add(), archive bytes come out
 * of the Readable side. add() waits whenever the consumer is full (push()
 * backpressure), so a writer feeding a slow pipe never holds more than a
 * chunk of a file in memory.
 *
 * Headers, padding and small bodies are gathered into pushes of about
 * COALESCE bytes: one push (one write syscall downstream) per 512-byte
 * header made packing many small files several times slower.
 */
import { Readable, type ReadableOptions } from 'node:stream';
import { InvalidInputError, displayPath } from '../errors.js';
import { BLOCK, END_OF_ARCHIVE, encodeHeader, padding, type TarEntry } from './header.js';

const ZERO_BLOCK = Buffer.alloc(BLOCK);
const COALESCE = 64 * 1024;

export class TarWriter extends Readable {
  /** add() and finish() calls run one after another, in call order. */
  private tail: Promise<void> = Promise.resolve();
  /** Resolves a producer waiting for the consumer to ask for more. */
  private demand: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private ended = false;
  /** Small chunks not yet pushed, and their total length. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(options?: ReadableOptions) {
    super({ highWaterMark: 64 * 1024, ...options });
  }

  /**
   * Writes the header (encodeHeader), then exactly entry.size bytes of body
   * for files, then padding. Resolves once all of it has been pushed or
   * gathered for the next push (finish() pushes the rest).
   * Rejects with an InvalidInputError naming the entry when the body is
   * shorter or longer than entry.size; the archive is then unusable, so the
   * stream is destroyed with the same error.
   */
  add(entry: TarEntry, body?: Buffer | Readable): Promise<void> {
    return this.enqueue(() => this.writeEntry(entry, body));
  }

  /** Writes the end-of-archive blocks and ends the stream. */
  finish(): Promise<void> {
    return this.enqueue(async () => {
      await this.pushChunk(END_OF_ARCHIVE);
      await this.flush();
      this.ended = true;
      this.push(null);
    });
  }

  override _read(): void {
    const waiting = this.demand;
    this.demand = null;
    waiting?.resolve();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const waiting = this.demand;
    this.demand = null;
    waiting?.reject(err ?? new Error('tar writer destroyed before the archive was complete'));
    callback(err);
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const result = this.tail.then(() => {
      if (this.ended) throw new Error('tar writer: add() or finish() after finish()');
      if (this.destroyed) throw this.errored ?? new Error('tar writer destroyed before the archive was complete');
      return step();
    });
    // A failed step has already destroyed the stream; later steps see that.
    this.tail = result.catch(() => {});
    return result;
  }

  private async writeEntry(entry: TarEntry, body: Buffer | Readable | undefined): Promise<void> {
    const size = entry.type === 'file' ? entry.size : 0;
    await this.pushChunk(encodeHeader(entry));
    let written = 0;
    try {
      if (Buffer.isBuffer(body)) {
        if (body.length !== size) throw this.sizeError(entry, body.length > size ? 'more' : 'fewer', body.length);
        if (size > 0) await this.pushChunk(body);
        written = size;
      } else if (body) {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (written + chunk.length > size) {
            body.destroy();
            throw this.sizeError(entry, 'more', written + chunk.length);
          }
          written += chunk.length;
          await this.pushChunk(chunk);
        }
      }
      if (written !== size) throw this.sizeError(entry, 'fewer', written);
    } catch (err) {
      this.destroy(err as Error);
      throw err;
    }
    const pad = padding(size);
    if (pad > 0) await this.pushChunk(ZERO_BLOCK.subarray(0, pad));
  }

  private sizeError(entry: TarEntry, direction: 'more' | 'fewer', got: number): InvalidInputError {
    const at = direction === 'more' ? `at least ${got}` : `${got}`;
    return new InvalidInputError(displayPath(entry.path), `body has ${at} bytes, header says ${entry.size}`);
  }

  private async pushChunk(chunk: Buffer): Promise<void> {
    if (chunk.length >= COALESCE) {
      await this.flush();
      return this.pushNow(chunk);
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= COALESCE) await this.flush();
  }

  private flush(): Promise<void> {
    if (this.pendingBytes === 0) return Promise.resolve();
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return this.pushNow(chunk);
  }

  private pushNow(chunk: Buffer): Promise<void> {
    if (this.destroyed) return Promise.reject(this.errored ?? new Error('tar writer destroyed before the archive was complete'));
    if (this.push(chunk)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.demand = { resolve, reject };
    });
  }
}
