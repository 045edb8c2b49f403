/** Small stream pieces the readers and writers share. */
import { Transform, Writable, type TransformCallback } from 'node:stream';

/** A pass-through that shows each chunk to a callback (which may hold the stream back by returning a promise). */
export class Tap extends Transform {
  constructor(
    private readonly onChunk: (chunk: Buffer) => void | Promise<void>,
    private readonly onEnd?: () => Promise<void>,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const waiting = this.onChunk(chunk);
    if (waiting) waiting.then(() => callback(null, chunk), callback);
    else callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.onEnd) this.onEnd().then(() => callback(), callback);
    else callback();
  }
}

/** A sink for bytes that only need hashing. */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
