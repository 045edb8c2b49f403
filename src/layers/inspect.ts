/**
 * What a layer blob holds, learned while its bytes stream past on their way
 * to a file: its diff_id (sha256 of the decompressed tar) and whether that
 * tar is safe to unpack (a tar at all, every name inside the root). The
 * check never fails the stream: whether a blob is a layer is often known
 * only later (from a manifest read after it), and configs pass here too.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressor, type Compression } from '../compress/index.js';
import { discard, Tap } from '../io/streams.js';
import type { Digest } from '../oci/types.js';
import { checkLayerEntry } from '../tar/paths.js';
import { TarProbe } from '../tar/reader.js';

export interface LayerFacts {
  diffId: Digest;
  /** Why the content is not a safe layer tar, if it is not. */
  notALayer: Error | undefined;
}

export class LayerInspector {
  /** A pass-through to put in the blob's pipeline; it never fails that pipeline. */
  readonly tap: Transform;
  /**
   * Settles once the tap's stream has ended; rejects when the content does
   * not decompress. Await it after the blob's own checks, so that a digest
   * mismatch, the root cause, is what gets reported.
   */
  readonly done: Promise<void>;
  private readonly hash = createHash('sha256');
  private readonly probe: TarProbe;
  private readonly decompressor: Duplex | undefined;
  private diffId: Digest | undefined;

  constructor(compression: Compression, where: string) {
    this.probe = new TarProbe(where, (entry) => checkLayerEntry(entry, where));
    if (compression === 'none') {
      // The diff_id is the blob's own digest, which whoever stores the blob computes anyway.
      this.tap = new Tap((chunk) => this.probe.feed(chunk), async () => this.probe.end());
      this.done = Promise.resolve();
      return;
    }
    const inspect = new Tap(
      (chunk) => {
        this.hash.update(chunk);
        this.probe.feed(chunk);
      },
      async () => {
        this.probe.end();
        this.diffId = `sha256:${this.hash.digest('hex')}`;
      },
    );
    // Decompressed in a tee with backpressure; the blob goes on as it came.
    const decompressor = createDecompressor(compression, where);
    this.decompressor = decompressor;
    this.done = pipeline(decompressor, inspect, discard());
    let failed = false;
    const settled = this.done.then(
      () => undefined,
      () => {
        failed = true;
      },
    );
    this.tap = new Tap(
      (chunk) => (failed || decompressor.write(chunk) ? undefined : Promise.race([once(decompressor, 'drain'), settled]).then(() => undefined)),
      async () => {
        if (!failed) decompressor.end();
        await settled;
      },
    );
  }

  /** Only once done has resolved; blobDigest is the digest of the bytes as they came (the diff_id of an uncompressed layer). */
  facts(blobDigest: Digest): LayerFacts {
    if (this.decompressor && !this.diffId) throw new Error('LayerInspector: facts read before the stream ended');
    return { diffId: this.diffId ?? blobDigest, notALayer: this.probe.problem };
  }

  /** Stops the decompressing side of a stream that failed. */
  abort(): void {
    this.decompressor?.destroy();
  }
}
