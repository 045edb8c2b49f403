/**
 * The store's side of every image coming in (load, pull, and copy into the
 * store through them): the one place blobs wait verified but unnamed, the
 * hook a policy gets before any name (`beforeNames`: `--require-signed` reads
 * the staged signatures and can refuse with the store as it was), and the
 * one order things take their names in: blobs, then the documents that name
 * them, then every tag and referrer in one index.json update.
 */
import { InvalidInputError, NotFoundError } from '../errors.js';
import { documentCaps, readMetadata } from '../io/metadata.js';
import { verifiedBytes } from '../oci/digest.js';
import type { MovedImage } from '../oci/image-ends.js';
import type { ImageReference } from '../oci/reference.js';
import type { Descriptor, Digest } from '../oci/types.js';
import type { BlobWriter, SpooledBlob } from './blob-writer.js';
import type { Store } from './store.js';

export interface StagedReferrer {
  /** The manifest or index it refers to. */
  subject: Digest;
  descriptor: Descriptor;
}

export interface StagedImages {
  /** What each image's names will point at, and the names it will take (a copy stages one image). */
  images: Array<Omit<MovedImage, 'referrers'>>;
  /** Their manifests were made on load around a classic docker archive's configs: nothing in the archive could sign them. */
  manifestsMadeHere?: boolean;
  referrers: StagedReferrer[];
  /** A staged (or already stored) small blob, read back bounded (documentCaps.image: signatures, SBOM manifests and configs are small JSON documents) and checked against its digest. */
  readBlob(digest: Digest): Promise<Buffer>;
}

/** The store's trust policy file (src/trust/policy.ts reads it; docs/trust.md), in the store directory. */
export const policyFileName = 'policy.json';

/** Called after every blob is verified and before any is committed or named; a throw aborts the command with nothing changed. */
export type BeforeNames = (staged: StagedImages) => Promise<void>;


/** The names an incoming image and its referrers take, all in one index.json update (Store.recordNames). */
export interface IncomingNames {
  tags?: Array<{ ref: ImageReference; descriptor: Descriptor }>;
  untagged?: Descriptor[];
  referrers?: Array<{ descriptor: Descriptor; subject: Digest }>;
}

/**
 * Blobs on their way into the store, held until the whole image is verified:
 * large ones as finished temp files in the store's tmp/ (a few fields each,
 * no file descriptor, so thousands may wait), small documents a source
 * already holds (a registry's manifests) in memory. Nothing is visible to a
 * reader of the store until commit(); abort() (which commit runs for what it
 * leaves) removes every temp file, so a failure leaves the store as it was.
 */
export class StagingArea {
  private readonly pending = new Map<Digest, SpooledBlob>();
  private readonly documents = new Map<Digest, Buffer>();

  constructor(private readonly store: Store) {}

  /** A writer for a blob whose bytes are on their way; keep() it once written and checked. */
  createWriter(): BlobWriter {
    return this.store.createBlobWriter();
  }

  /** A written blob waits here under digest (the same bytes under a second name are dropped: one copy is enough). */
  async keep(digest: Digest, writer: BlobWriter): Promise<void> {
    if (this.pending.has(digest)) await writer.abort();
    else this.pending.set(digest, writer.spooled());
  }

  /** A small document already in memory (a manifest, index or config a source sent), stored after the blobs at commit. */
  keepDocument(digest: Digest, bytes: Buffer): void {
    this.documents.set(digest, bytes);
  }

  has(digest: Digest): boolean {
    return this.pending.has(digest) || this.documents.has(digest);
  }

  /** Where a staged blob's bytes can be read before commit: its temp file, else the store's own copy. */
  pathOf(digest: Digest): string {
    return this.pending.get(digest)?.tempPath ?? this.store.blobPath(digest);
  }

  /** A staged or stored small blob (a signature, an SBOM manifest, a config), bounded and held to its digest: what beforeNames reads. */
  async readSmall(digest: Digest): Promise<Buffer> {
    const inMemory = this.documents.get(digest);
    if (inMemory) {
      if (inMemory.length > documentCaps.image) throw new InvalidInputError(`blob ${digest}`, `larger than ${documentCaps.image} bytes: ${smallDocument}`);
      return verifiedBytes(inMemory, digest, `blob ${digest}`);
    }
    const path = this.pending.has(digest) || (await this.store.hasBlob(digest)) ? this.pathOf(digest) : undefined;
    if (path === undefined) throw new NotFoundError(`blob ${digest} is neither staged nor in the store`);
    return verifiedBytes(await readMetadata(path, 'image', smallDocument), digest, path);
  }

  /**
   * Every blob takes its name (those in keep, when given; a blob the store
   * has meanwhile is not rewritten), then the documents in the order they were
   * kept (children before what names them), then the names in one update.
   */
  async commit(names: IncomingNames, keep?: Set<Digest>): Promise<void> {
    try {
      for (const [digest, spooled] of this.pending) {
        if ((keep && !keep.has(digest)) || (await this.store.hasBlob(digest))) continue;
        this.pending.delete(digest);
        await spooled.commit({ digest, size: spooled.size });
      }
      for (const [digest, bytes] of this.documents) if (!(await this.store.hasBlob(digest))) await this.store.putBlob(bytes);
    } finally {
      await this.abort();
    }
    await this.store.recordNames(names);
  }

  async abort(): Promise<void> {
    const spooled = [...this.pending.values()];
    this.pending.clear();
    this.documents.clear();
    await Promise.all(spooled.map((blob) => blob.abort()));
  }
}

const smallDocument = 'a small document (a signature, an SBOM manifest, a config)';
