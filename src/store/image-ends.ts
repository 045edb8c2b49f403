/**
 * The store as either end of the one copy (engine/copy.ts): a source gives
 * its blobs as they lie for the copy to verify, and its layers were checked
 * when they came in; a
 * destination stages what comes (store/staged.ts) and names it only when
 * the copy commits.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobArrival, DestinationNames, Document, ImageDestination, ImageSource } from '../oci/image-ends.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { StagingArea, type IncomingNames } from './staged.js';
import type { Store } from './store.js';

export class StoreSource implements ImageSource {
  readonly sender = 'the store';
  readonly layersChecked = true;
  readonly defaultsToHostPlatform = false;
  private referrersBySubject: Map<Digest, Descriptor[]> | undefined;

  constructor(private readonly store: Store) {}

  get where(): string {
    return this.store.dir;
  }

  blobWhere(digest: Digest): string {
    return this.store.blobPath(digest);
  }

  readDocument(descriptor: Descriptor): Promise<Buffer> {
    return this.store.readBlob(descriptor.digest, descriptor.size);
  }

  /** As the blob lies: the copy checks every byte it reads (engine/verified-blob.ts), once. */
  openBlob(descriptor: Descriptor): Promise<Readable> {
    return this.store.openBlobAsStored(descriptor.digest, descriptor.size);
  }

  holds(descriptor: Descriptor): Promise<boolean> {
    return this.store.hasBlob(descriptor.digest);
  }

  /** From one read of index.json: the store's referrer entries, by subject. */
  async referrersOf(subject: Digest): Promise<Descriptor[]> {
    this.referrersBySubject ??= await this.store.referrersBySubject();
    return this.referrersBySubject.get(subject) ?? [];
  }

  retry<T>(_blob: Descriptor, transfer: () => Promise<T>): Promise<T> {
    return transfer();
  }

  close(): void {}
}

export class StoreDestination implements ImageDestination {
  /** An index may list platforms never brought in, as a store keeps them (the copy lists only those the source holds). */
  readonly takesPartialIndexes = true;
  private readonly staging: StagingArea;
  /** Every blob a copy asked for: what commit names, where the staging also holds what no image needs (an archive's other members). */
  private readonly wanted = new Set<Digest>();
  /** The names of each copy, given together by commitTogether() (an archive's images: all or none). */
  private readonly gathered: Required<IncomingNames> | undefined;

  /**
   * staged: where an archive was staged in one pass before any of it could
   * be read by digest (load): its blobs are already here, and the names of
   * every image copied from it wait for commitTogether().
   */
  constructor(
    private readonly store: Store,
    staged?: StagingArea,
  ) {
    this.staging = staged ?? new StagingArea(store);
    this.gathered = staged ? { tags: [], untagged: [], referrers: [] } : undefined;
  }

  get where(): string {
    return this.store.dir;
  }

  async has(descriptor: Descriptor): Promise<boolean> {
    this.wanted.add(descriptor.digest);
    return this.staging.has(descriptor.digest) || (await this.store.hasBlob(descriptor.digest));
  }

  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>): Promise<BlobArrival> {
    this.wanted.add(descriptor.digest);
    const writer = this.staging.createWriter();
    try {
      await pipeline(await open(), writer);
    } catch (err) {
      await writer.abort();
      throw err;
    }
    await this.staging.keep(descriptor.digest, writer);
    return { status: 'pulled' };
  }

  async putSmallBlob(descriptor: Descriptor, bytes: Buffer): Promise<BlobArrival> {
    if (await this.has(descriptor)) return { status: 'exists' };
    this.staging.keepDocument(descriptor.digest, bytes);
    return { status: 'pulled' };
  }

  async openHeld(descriptor: Descriptor): Promise<Readable | undefined> {
    return this.staging.has(descriptor.digest) ? undefined : this.store.openBlob(descriptor.digest, descriptor.size);
  }

  async putDocument(document: Document): Promise<void> {
    this.staging.keepDocument(document.descriptor.digest, document.bytes);
  }

  readSmall(digest: Digest): Promise<Buffer> {
    return this.staging.readSmall(digest);
  }

  /** The image under its tags, or kept without a name when it has none (as load keeps an untagged image); its referrers in the same index update. */
  async commit({ image, referrers }: DestinationNames): Promise<void> {
    const names: Required<IncomingNames> = { tags: image.tags.map((ref) => ({ ref, descriptor: image.descriptor })), untagged: image.tags.length > 0 ? [] : [image.descriptor], referrers };
    if (!this.gathered) return this.staging.commit(names, this.wanted);
    this.gathered.tags.push(...names.tags);
    this.gathered.untagged.push(...names.untagged);
    this.gathered.referrers.push(...names.referrers);
  }

  /** Every image copied from a staged archive named in one index update, after all their blobs and documents. */
  async commitTogether(): Promise<void> {
    if (!this.gathered) throw new Error('StoreDestination.commitTogether: names are given at each commit here');
    await this.staging.commit(this.gathered, this.wanted);
  }

  abort(): Promise<void> {
    return this.staging.abort();
  }
}
