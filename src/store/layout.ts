/**
 * The one OCI image layout engine (umoci's cas.Engine shape): blobs put
 * through a hashed temp file and placed atomically, read verified and
 * bounded, index.json read bounded and replaced atomically, blobs listed and
 * removed, temp leftovers cleaned. The store is this engine on its directory
 * plus a lock, names, referrers and gc; `save` and `load` of `oci:DIR` use it
 * on a foreign directory, which gets no private directory of ours: its temp
 * files are hidden names in the layout itself, gone when the command ends.
 */
import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { InvalidInputError, NotFoundError, fromFsError } from '../errors.js';
import { documentCaps, isMissing, openRegular, openRegularStream, readCapped, readMetadata } from '../io/metadata.js';
import { placeAtomically, writeFileAtomic } from '../io/durable.js';
import { escapeRegExp, removeStaleTemps, tempName, tempPattern } from '../io/temp.js';
import { VerifyingStream, digestHex, parseDigest, sha256 } from '../oci/digest.js';
import type { Digest, Index } from '../oci/types.js';
import { parseIndex, parseJson } from '../oci/validate.js';
import { StoreBlobWriter, type BlobWriter } from './blob-writer.js';

export interface LayoutOptions {
  /** Where temp files are made, on the layout's file system: the store's private tmp/, or the layout directory itself. */
  tempDir: string;
  /**
   * Starts every temp name made in tempDir (blobs', index.json's, save's
   * spool): none in the store's own tmp/; a dot in a foreign layout, whose
   * readers then skip them, and whose clean() then takes only those.
   */
  tempPrefix?: string;
  /** What the layout is called in "blob … is not in …": "the store DIR", "the layout DIR". */
  shownAs: string;
}

export class LayoutDirectory {
  readonly tempDir: string;
  private readonly tempPrefix: string;
  private readonly shownAs: string;

  constructor(readonly dir: string, options: LayoutOptions) {
    this.tempDir = options.tempDir;
    this.tempPrefix = options.tempPrefix ?? '';
    this.shownAs = options.shownAs;
  }

  /**
   * The engine on a directory that is not a store (save's and load's oci:DIR):
   * no private directory of ours in it; its temp files are hidden names beside
   * index.json, gone when the command ends (a new layout is built under a temp
   * name, so they never show under its final one). shownAs: what the user
   * calls it, when dir is that temp name.
   */
  static foreign(dir: string, shownAs = dir): LayoutDirectory {
    return new LayoutDirectory(dir, { tempDir: dir, tempPrefix: '.', shownAs: `the layout ${shownAs}` });
  }

  blobPath(digest: Digest): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(parseDigest(digest, 'blob digest')));
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fromFsError(err, this.blobPath(digest));
    }
  }

  /** A blob on its way in: a temp file hashed as written, named by commit (placeAtomically) only once complete. */
  createBlobWriter(): BlobWriter {
    return new StoreBlobWriter({ tempPath: (kind) => tempName(this.tempDir, `${this.tempPrefix}${kind}`), blobPath: (digest) => this.blobPath(digest) });
  }

  /** For small blobs (JSON documents); skips the write when the blob is already there. */
  async putBlob(data: Buffer): Promise<{ digest: Digest; size: number }> {
    const digest = sha256(data);
    if (await this.hasBlob(digest)) return { digest, size: data.length };
    return this.writeBlob(Readable.from([data]), { digest, size: data.length });
  }

  /** A blob from a stream, checked against expected before it takes its name; nothing is left if it fails. */
  async writeBlob(body: Readable, expected: { digest: Digest; size?: number }): Promise<{ digest: Digest; size: number }> {
    const writer = this.createBlobWriter();
    try {
      await pipeline(body, writer);
      return await writer.commit(expected);
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** A finished file in tempDir whose digest its writer computed as it wrote it, named as that blob. */
  async placeBlob(finished: string, digest: Digest, shownAs?: string): Promise<void> {
    await placeAtomically(finished, this.blobPath(digest), { syncFirst: true, ...(shownAs === undefined ? {} : { shownAs }) });
  }

  /**
   * A verifying read of a regular file (judged on the open descriptor, so a
   * FIFO or device planted under a blob's name is refused, not read): wrong
   * bytes on disk fail the stream at its end (InvalidInputError naming the
   * file); an absent blob fails it with NotFoundError.
   */
  openBlob(digest: Digest, size?: number): Readable {
    const path = this.blobPath(digest);
    const verifier = new VerifyingStream(digest, size, path);
    let file: Readable | undefined;
    // The consumer may give up before the file is open, or while it is read: the file goes with the verifier.
    verifier.on('close', () => file?.destroy());
    openRegular(path).then(
      ({ handle }) => {
        if (verifier.destroyed) return void handle.close();
        file = createReadStream('', { fd: handle, highWaterMark: 1 << 20 });
        file.on('error', (err) => verifier.destroy(fromFsError(err, path) as Error));
        file.pipe(verifier);
      },
      (err: unknown) => verifier.destroy(isMissing(err) ? new NotFoundError(`blob ${digest} is not in ${this.shownAs}`, { cause: err }) : (err as Error)),
    );
    return verifier;
  }

  async readBlob(digest: Digest, size?: number): Promise<Buffer> {
    return buffer(this.openBlob(digest, size));
  }

  /**
   * A manifest, index or config blob, parsed: at most documentCaps.image bytes,
   * refused before a byte is read when its descriptor says more, and by bytes
   * read when its size is not known, so a hostile document cannot fill memory.
   */
  async readDocument<T>(digest: Digest, size?: number): Promise<T> {
    const path = this.blobPath(digest);
    const tooLarge = (): InvalidInputError => new InvalidInputError(path, `larger than ${documentCaps.image} bytes: not an image metadata document`);
    if (size !== undefined && size > documentCaps.image) throw tooLarge();
    let bytes: Buffer;
    try {
      bytes = await readCapped(this.openBlob(digest, size), 'image');
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === 'ERR_RESPONSE_TOO_LARGE' ? tooLarge() : err;
    }
    return parseJson(bytes.toString('utf8'), path) as T;
  }

  /**
   * A blob's bytes as they are on disk, for a reader that checks them itself
   * and names what is wrong as its member (load's contents): a regular file
   * only, never more than limit + 1 bytes, and its size when opened.
   */
  openUnverified(digest: Digest, limit?: number): Promise<{ stream: Readable; size: number }> {
    return openRegularStream(this.blobPath(digest), limit);
  }

  /** openUnverified for a document: its bytes, bounded by documentCaps.image. */
  readUnverified(digest: Digest): Promise<Buffer> {
    return readMetadata(this.blobPath(digest), 'image');
  }

  /** oci-layout's bytes, bounded by documentCaps.ociLayout (a missing one is NotFoundError, see isMissing). */
  readLayoutFile(): Promise<Buffer> {
    return readMetadata(join(this.dir, 'oci-layout'), 'ociLayout', 'an oci-layout file');
  }

  get indexPath(): string {
    return join(this.dir, 'index.json');
  }

  /** index.json's bytes, bounded by documentCaps.layoutIndex (a missing one is NotFoundError, see isMissing). */
  async readIndexBytes(): Promise<Buffer> {
    return readMetadata(this.indexPath, 'layoutIndex', 'an image index');
  }

  async readIndex(): Promise<Index> {
    return parseIndex(parseJson((await this.readIndexBytes()).toString('utf8'), this.indexPath), this.indexPath);
  }

  /** Replaces index.json: temp file, fsync, placeAtomically; a reader sees the old index or the new one. Bytes a writer already serialized go as they are. */
  async writeIndex(index: Index | Buffer): Promise<void> {
    await writeFileAtomic(this.indexPath, Buffer.isBuffer(index) ? index : JSON.stringify(index), { tempDir: this.tempDir });
  }

  /** The digests of blobs/sha256/ (names that are not a sha256 hex digest are not ours to judge and are left out). */
  async listBlobs(): Promise<Digest[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, 'blobs', 'sha256'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fromFsError(err, join(this.dir, 'blobs', 'sha256'));
    }
    return names.filter((name) => /^[a-f0-9]{64}$/.test(name)).sort().map((name): Digest => `sha256:${name}`);
  }

  async removeBlob(digest: Digest): Promise<void> {
    try {
      await rm(this.blobPath(digest), { force: true });
    } catch (err) {
      throw fromFsError(err, this.blobPath(digest));
    }
  }

  /** Removes the temp files killed commands left here (their PIDs are dead); a running command's are kept. */
  async clean(): Promise<string[]> {
    return removeStaleTemps(this.tempDir, this.tempPattern());
  }

  /** What this layout's temp names look like (group 1: the writer's PID). */
  tempPattern(): RegExp {
    return tempPattern(`${escapeRegExp(this.tempPrefix)}.+`);
  }
}
