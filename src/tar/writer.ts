/**
 * A streaming tar writer: entries go in through add(), archive bytes come out
 * of the Readable side. add() waits whenever the consumer is full (push()
 * backpressure), so a writer feeding a slow pipe never holds more than a
 * chunk of a file in memory.
 *
 * Headers, padding and small bodies are copied into a staging buffer pushed
 * when full (GNU tar's record buffer): one push (one write syscall
 * downstream) per 512-byte header made packing many small files several
 * times slower. A producer with its own loop (pack) writes synchronously
 * into it with writeHeader()/bodySpace()/bodyFilled(), awaiting ready() only
 * when the consumer is full: a promise per entry cost more than the syscalls.
 */
import { Readable, type ReadableOptions } from 'node:stream';
import { InvalidInputError, displayPath } from '../errors.js';
import { BLOCK, END_OF_ARCHIVE, encodeHeader, padding, type TarEntry } from './header.js';

/**
 * Staging buffer size, and the body chunk size from which add() pushes a
 * chunk as it is instead of copying it. Larger buffers measured no faster into
 * a pipe (64 KiB stays in cache between the read and the write).
 */
const STAGE = 64 * 1024;

export class TarWriter extends Readable {
  /** add() and finish() calls run one after another, in call order. */
  private tail: Promise<void> = Promise.resolve();
  /** Resolves a producer waiting for the consumer to ask for more. */
  private demand: { resolve: () => void; reject: (err: Error) => void } | null = null;
  /** False from a push() the consumer refused until it asks for more (_read). */
  private wanted = true;
  private ended = false;
  private stage = Buffer.allocUnsafe(STAGE);
  private staged = 0;
  /** The entry whose body is being written, and how many body bytes it still expects. */
  private current: TarEntry | undefined;
  private bodyLeft = 0;

  constructor(options?: ReadableOptions) {
    super({ highWaterMark: 64 * 1024, ...options });
  }

  /**
   * Writes the header (encodeHeader), then exactly entry.size bytes of body
   * for files, then padding. Resolves once all of it has been pushed or
   * staged for the next push (finish() pushes the rest).
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
      if (this.current) throw new Error(`tar writer: finish() with ${this.bodyLeft} body bytes of ${displayPath(this.current.path)} missing`);
      this.copy(END_OF_ARCHIVE);
      this.pushStage();
      this.ended = true;
      this.push(null);
    });
  }

  /** True when the consumer has enough: a synchronous producer awaits ready() before writing more. */
  get full(): boolean {
    return !this.wanted;
  }

  /** Resolves when the consumer wants more (at once if it does); rejects if the stream is destroyed. */
  ready(): Promise<void> {
    if (this.destroyed) return Promise.reject(this.errored ?? new Error('tar writer destroyed before the archive was complete'));
    if (this.wanted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.demand = { resolve, reject };
    });
  }

  /**
   * Synchronous writing, for a producer not mixing it with add() calls still
   * pending: stages the entry's header; a file's body follows through
   * bodySpace()/bodyFilled(), and its padding goes in with its last byte.
   */
  writeHeader(entry: TarEntry): void {
    if (this.current) throw new Error(`tar writer: header of ${displayPath(entry.path)} before the body of ${displayPath(this.current.path)} was complete`);
    this.copy(encodeHeader(entry));
    this.startBody(entry);
  }

  /** Where the next body bytes go: free staging space, at most the bytes the body still needs (empty when it needs none). */
  bodySpace(): Buffer {
    if (this.staged === STAGE) this.pushStage();
    return this.stage.subarray(this.staged, this.staged + Math.min(STAGE - this.staged, this.bodyLeft));
  }

  /** Counts `count` bytes written into bodySpace(). */
  bodyFilled(count: number): void {
    if (count > this.bodyLeft || this.staged + count > STAGE) throw new Error('tar writer: body bytes beyond the space given');
    this.staged += count;
    this.bodyLeft -= count;
    if (this.bodyLeft === 0) this.endBody();
  }

  override _read(): void {
    this.wanted = true;
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
    this.copy(encodeHeader(entry));
    try {
      if (Buffer.isBuffer(body)) {
        if (body.length !== size) throw this.sizeError(entry, body.length > size ? 'more' : 'fewer', body.length);
        this.startBody(entry);
        this.writeBody(body);
      } else {
        this.startBody(entry);
        if (body) {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            if (chunk.length > this.bodyLeft) {
              body.destroy();
              throw this.sizeError(entry, 'more', size - this.bodyLeft + chunk.length);
            }
            this.writeBody(chunk);
            if (this.full) await this.ready();
          }
        }
        if (this.bodyLeft > 0) throw this.sizeError(entry, 'fewer', size - this.bodyLeft);
      }
    } catch (err) {
      this.destroy(err as Error);
      throw err;
    }
    if (this.full) await this.ready();
  }

  private startBody(entry: TarEntry): void {
    this.bodyLeft = entry.type === 'file' ? entry.size : 0;
    this.current = entry;
    if (this.bodyLeft === 0) this.endBody();
  }

  private endBody(): void {
    this.copy(ZERO_BLOCK.subarray(0, padding(this.current!.size)));
    this.current = undefined;
  }

  /** A body chunk: large ones are pushed as they are, small ones staged. */
  private writeBody(chunk: Buffer): void {
    if (chunk.length >= STAGE) {
      this.pushStage();
      this.pushNow(chunk);
      this.bodyLeft -= chunk.length;
      if (this.bodyLeft === 0) this.endBody();
      return;
    }
    for (let done = 0; done < chunk.length; ) {
      const space = this.bodySpace();
      const count = chunk.copy(space, 0, done);
      this.bodyFilled(count);
      done += count;
    }
  }

  private sizeError(entry: TarEntry, direction: 'more' | 'fewer', got: number): InvalidInputError {
    const at = direction === 'more' ? `at least ${got}` : `${got}`;
    return new InvalidInputError(displayPath(entry.path), `body has ${at} bytes, header says ${entry.size}`);
  }

  /** Stages bytes that are not body (headers, padding, the end blocks). */
  private copy(bytes: Buffer): void {
    for (let done = 0; done < bytes.length; ) {
      if (this.staged === STAGE) this.pushStage();
      const count = bytes.copy(this.stage, this.staged, done);
      this.staged += count;
      done += count;
    }
  }

  private pushStage(): void {
    if (this.staged === 0) return;
    const chunk = this.stage.subarray(0, this.staged);
    // A pushed buffer belongs to the consumer: the next bytes go into a new one.
    this.stage = Buffer.allocUnsafe(STAGE);
    this.staged = 0;
    this.pushNow(chunk);
  }

  private pushNow(chunk: Buffer): void {
    if (this.destroyed) throw this.errored ?? new Error('tar writer destroyed before the archive was complete');
    if (!this.push(chunk)) this.wanted = false;
  }
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);
