/**
 * Sending one blob to a registry: a monolithic PUT for small blobs, PATCH
 * chunks with Content-Range for big ones, then PUT ?digest=. Bytes stream
 * from the copy's source, verified as they flow (engine/verified-blob.ts),
 * so a blob that does not match is never completed upstream. When a request fails in a
 * way that may pass, the registry is asked how far it got (GET on the
 * upload's Location, its Range header) and the upload continues from there;
 * if it has lost the upload, a new one starts from byte 0.
 */
import type { ClientRequest } from 'node:http';
import type { Readable } from 'node:stream';
import { InvalidInputError } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import { RegistryError, type RegistryClient } from './client.js';
import { endRequest, writeChunk, type BodyWriter } from './http.js';

/** Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size, the unit a resume can lose. */
const defaultChunkSize = 32 * 1024 * 1024;

export interface UploadOptions {
  chunkSize?: number;
  /** Bytes the registry has taken so far (0 again when an upload restarts). */
  onProgress?: (sent: number) => void;
  /** Told when an interrupted upload goes on: from the registry's offset, or from 0 in a new upload. */
  onResume?: (offset: number, restarted: boolean) => void;
}

/**
 * Uploads a blob the registry does not have into repository, one attempt
 * per send(): the caller retries the whole blob transfer (image-ends.ts RegistryDestination),
 * and each attempt after a failed one goes on from where the registry says
 * the upload got to, or in a new upload if it lost it.
 */
export class BlobUpload {
  private state: { location: URL; offset: number } | undefined;
  private interrupted = false;
  private readonly chunkSize: number;

  constructor(
    private readonly client: RegistryClient,
    /** The blob's bytes from the start, again for each attempt. */
    private readonly open: () => Promise<Readable>,
    private readonly repository: string,
    private readonly blob: Descriptor,
    private readonly options: UploadOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? defaultChunkSize;
  }

  /** Whether bytes may have been sent: a failed request may have completed the upload. */
  get started(): boolean {
    return this.interrupted;
  }

  /** The upload goes to location (one a refused mount opened) instead of a new one. */
  openedAt(location: URL): void {
    this.state = { location, offset: 0 };
  }

  async send(): Promise<void> {
    const { client, repository, blob } = this;
    if (!this.state) this.state = { location: await client.startUpload(repository), offset: 0 };
    else if (this.interrupted) {
      const resumed = await resumePoint(client, repository, this.state.location, blob.size);
      this.state = { location: resumed.location, offset: resumed.offset };
      this.options.onResume?.(resumed.offset, resumed.restarted);
    }
    this.interrupted = true;
    await send(client, await this.open(), repository, blob, this.state, this.chunkSize, this.options.onProgress);
  }
}

/** Where an interrupted upload stands; a fresh upload when the registry no longer knows it (restarted, expired). */
async function resumePoint(client: RegistryClient, repository: string, location: URL, size: number): Promise<{ location: URL; offset: number; restarted: boolean }> {
  try {
    return { ...(await client.uploadStatus(repository, location, size)), restarted: false };
  } catch (err) {
    // A registry that talks nonsense (no status, the upload's state garbled) is not one that lost the upload.
    if (err instanceof RegistryError && (err.retryable || err.status === undefined || err.status < 400)) throw err;
    return { location: await client.startUpload(repository), offset: 0, restarted: true };
  }
}

/** Sends blob bytes from state.offset on, advancing state as each chunk is accepted. */
async function send(client: RegistryClient, bytes: Readable, repository: string, blob: Descriptor, state: { location: URL; offset: number }, chunkSize: number, onProgress?: (sent: number) => void): Promise<void> {
  const what = `pushing blob ${blob.digest}`;
  const reader = new BlobReader(bytes, `blob ${blob.digest}`, (sent) => onProgress?.(sent));
  try {
    await reader.skip(state.offset);
    if (state.offset === 0 && blob.size <= chunkSize) {
      await client.completeUpload(repository, what, state.location, blob.digest, blob.size, reader.body(blob.size, true));
      return;
    }
    while (state.offset < blob.size) {
      const length = Math.min(chunkSize, blob.size - state.offset);
      const last = state.offset + length === blob.size;
      state.location = await client.uploadChunk(repository, what, state.location, state.offset, length, reader.body(length, last));
      state.offset += length;
    }
    await client.completeUpload(repository, what, state.location, blob.digest, 0);
  } finally {
    reader.destroy();
  }
}

/**
 * Hands out consecutive slices of one blob stream as request bodies. The
 * stream's end is awaited before the last request is ended, so a digest
 * mismatch found by the verifying read stops the upload before the registry
 * could accept the blob.
 */
class BlobReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer | undefined;
  private position = 0;

  constructor(private readonly stream: Readable, private readonly where: string, private readonly onPosition: (position: number) => void) {
    this.iterator = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async skip(length: number): Promise<void> {
    await this.take(length, async () => undefined);
  }

  body(length: number, last: boolean): BodyWriter {
    return async (request: ClientRequest) => {
      await this.take(length, (chunk) => writeChunk(request, chunk));
      if (last && !(await this.iterator.next()).done) throw new InvalidInputError(this.where, 'longer than its descriptor says');
      await endRequest(request);
    };
  }

  destroy(): void {
    this.stream.destroy();
  }

  private async take(length: number, use: (chunk: Buffer) => Promise<void>): Promise<void> {
    let left = length;
    while (left > 0) {
      let chunk = this.pending;
      this.pending = undefined;
      if (!chunk) {
        const next = await this.iterator.next();
        if (next.done) throw new InvalidInputError(this.where, 'shorter than its descriptor says');
        chunk = next.value;
      }
      if (chunk.length > left) {
        this.pending = chunk.subarray(left);
        chunk = chunk.subarray(0, left);
      }
      left -= chunk.length;
      this.position += chunk.length;
      await use(chunk);
      this.onPosition(this.position);
    }
  }
}
