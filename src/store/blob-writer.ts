/**
 * A blob on its way into a layout (store/layout.ts): written to a temp file on
 * its file system (the store's private tmp/, or a hidden name in a foreign
 * layout), hashed as it is written, then fsynced and renamed to
 * blobs/sha256/<hex>. A crash at any point leaves only the temp file, which
 * the layout's clean() or gc removes; readers never see a partial blob under a
 * digest name.
 */
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { DigestMismatchError, InvalidInputError, fromFsError } from '../errors.js';
import { removeOnInterrupt } from '../io/temp.js';
import type { Digest } from '../oci/types.js';
import { placeAtomically } from '../io/durable.js';

export interface BlobWriter extends Writable {
  /** After end() has finished: verify against expected if given (DigestMismatchError / size error otherwise), run
   *  `check` (what else must hold before the bytes may take their name; it throws if not), rename the fsynced temp
   *  file to blobs/sha256/<hex> (over an existing blob of that digest: same bytes, or a repair). The temp file is
   *  gone afterwards either way. */
  commit(expected?: { digest: Digest; size?: number }, check?: () => Promise<void>): Promise<{ digest: Digest; size: number }>;
  /** Removes the temp file; safe to call after a failed write. */
  abort(): Promise<void>;
  /**
   * After end() has finished: the temp file alone, to commit or abort later,
   * detached from the stream and whatever pipeline fed it, so that a load
   * holding thousands of pending blobs holds a few fields for each, and no
   * file descriptor.
   */
  spooled(): SpooledBlob;
}

/** A finished temp file, not yet named: commit and abort as BlobWriter's. */
export class SpooledBlob {
  private settled = false;

  constructor(
    private readonly target: BlobTarget,
    /** The temp file, readable until commit or abort. */
    readonly tempPath: string,
    readonly digest: Digest,
    readonly size: number,
    /** Ends the temp file's registration for removal on an interrupt (io/temp.ts). */
    private readonly release: () => void,
  ) {}

  async commit(expected?: { digest: Digest; size?: number }, check?: () => Promise<void>): Promise<{ digest: Digest; size: number }> {
    if (this.settled) throw new Error('BlobWriter: commit after commit or abort');
    this.settled = true;
    const { digest, size } = this;
    try {
      if (expected?.size !== undefined && expected.size !== size) {
        throw new InvalidInputError(`blob ${expected.digest}`, `size ${size} does not match the expected size ${expected.size}`);
      }
      if (expected && expected.digest !== digest) throw new DigestMismatchError(`blob ${expected.digest}`, expected.digest, digest);
      await check?.();
      // The data must be on disk before the rename makes it visible under its digest (a blob never committed needs
      // no fsync). Renaming over an existing blob of this digest is harmless (same bytes, atomic for readers) and
      // repairs one that was damaged on disk, so it is not skipped.
      await placeAtomically(this.tempPath, this.target.blobPath(digest), { syncFirst: true });
      return { digest, size };
    } finally {
      await rm(this.tempPath, { force: true });
      this.release();
    }
  }

  async abort(): Promise<void> {
    this.settled = true;
    await rm(this.tempPath, { force: true });
    this.release();
  }
}

/** Where a BlobWriter puts things; given by the layout engine. */
export interface BlobTarget {
  tempPath(kind: string): string;
  blobPath(digest: Digest): string;
}

export class StoreBlobWriter extends Writable implements BlobWriter {
  private readonly hash = createHash('sha256');
  private readonly tempPath: string;
  private readonly release: () => void;
  private handle: FileHandle | undefined;
  private size = 0;
  private result: SpooledBlob | undefined;
  private settled = false;
  /** The temp file's creation, under way or done: abort waits for it, or the file would be made after its removal. */
  private opening: Promise<void> = Promise.resolve();

  constructor(private readonly target: BlobTarget) {
    super({ highWaterMark: 1 << 20 });
    this.tempPath = target.tempPath('blob');
    this.release = removeOnInterrupt(this.tempPath);
  }

  override _construct(callback: (error?: Error | null) => void): void {
    // Aborted before the stream was constructed (a failure on the other side of the pipeline): no file to make.
    if (this.settled) return callback();
    this.opening = open(this.tempPath, 'wx', 0o644).then(
      (handle) => {
        this.handle = handle;
        callback();
      },
      (err: unknown) => callback(fromFsError(err, this.tempPath) as Error),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    writeAll(this.handle!, chunk).then(() => callback(), (err: unknown) => callback(fromFsError(err, this.tempPath) as Error));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const data = Buffer.concat(chunks.map(({ chunk }) => chunk));
    this._write(data, 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeHandle().then(
      () => {
        this.result = new SpooledBlob(this.target, this.tempPath, `sha256:${this.hash.digest('hex')}`, this.size, this.release);
        callback();
      },
      (err: unknown) => callback(fromFsError(err, this.tempPath) as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return callback(error);
    handle.close().then(() => callback(error), () => callback(error));
  }

  async commit(expected?: { digest: Digest; size?: number }, check?: () => Promise<void>): Promise<{ digest: Digest; size: number }> {
    if (this.settled) throw new Error('BlobWriter: commit after commit or abort');
    this.settled = true;
    return this.spooled().commit(expected, check);
  }

  spooled(): SpooledBlob {
    if (!this.result) throw new Error('BlobWriter: the stream has not finished');
    return this.result;
  }

  async abort(): Promise<void> {
    this.settled = true;
    if (!this.destroyed) this.destroy();
    await this.opening;
    await this.closeHandle();
    await rm(this.tempPath, { force: true });
    this.release();
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += (await handle.write(data, offset)).bytesWritten;
}
