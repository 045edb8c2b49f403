/**
 * A registry repository as either end of the one copy (engine/copy.ts). As
 * a source: documents by digest, blobs as streams, referrers from the API
 * or the fallback tag, a whole blob transfer retried as one. As a
 * destination: a blob it lacks goes by a cross-repository mount when one is
 * known, else by a resumable upload; the manifests go at commit, children
 * first, the tag last, then the referrers. A registry cannot stage: what a
 * failed copy already sent stays there, unnamed, which is harmless.
 */
import { Readable } from 'node:stream';
import { InvalidInputError, printable } from '../errors.js';
import { readCapped } from '../io/metadata.js';
import { verifiedBytes } from '../oci/digest.js';
import type { BlobArrival, BlobStatus, DestinationNames, Document, ImageDestination, ImageSource, TransferEvent } from '../oci/image-ends.js';
import { referrerDescriptor } from '../oci/referrer-closure.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type Digest } from '../oci/types.js';
import type { RegistryClient } from './client.js';
import { addToReferrersTag, listReferrers } from './referrers.js';
import { BlobUpload } from './upload.js';

export class RegistrySource implements ImageSource {
  readonly sender = 'the registry';
  readonly layersChecked = false;
  readonly defaultsToHostPlatform = true;
  readonly where: string;
  private readonly fetched = new Map<Digest, Buffer>();

  constructor(private readonly client: RegistryClient, private readonly repository: string, private readonly onEvent: (event: TransferEvent) => void = () => {}) {
    this.where = `${client.registry}/${repository}`;
  }

  /** The manifest or index a tag or digest names, as the registry describes it; refused unless it is an image's. */
  async resolve(reference: string): Promise<Descriptor> {
    const { bytes, mediaType, digest } = await this.client.getManifest(this.repository, reference);
    if (!isManifestMediaType(mediaType) && !isIndexMediaType(mediaType)) {
      throw new InvalidInputError(`${this.where}:${reference}`, `media type ${printable(mediaType || '(none)').slice(0, 200)} is not an OCI or Docker schema 2 manifest or index (Docker schema 1 images are not supported)`);
    }
    this.fetched.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  async readDocument(descriptor: Descriptor): Promise<Buffer> {
    const known = this.fetched.get(descriptor.digest);
    if (known) return known;
    return (await this.client.getManifest(this.repository, descriptor.digest)).bytes;
  }

  openBlob(descriptor: Descriptor): Promise<Readable> {
    return this.client.getBlob(this.repository, descriptor.digest);
  }

  referrersOf(subject: Digest): Promise<Descriptor[]> {
    return listReferrers(this.client, this.repository, subject, (message) => this.onEvent({ type: 'warning', message }));
  }

  /** Fetch, check and keep, as one: a connection dropped mid-body starts the blob again, a bounded number of times. */
  retry<T>(blob: Descriptor, transfer: () => Promise<T>): Promise<T> {
    return this.client.withRetries(async () => {
      try {
        return await transfer();
      } catch (err) {
        throw this.client.failure(this.repository, `fetching blob ${blob.digest}`, err);
      }
    });
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Which repositories of which registry are known to hold a blob. One map
 * for several pushes (a `load --push` of many images) lets later pushes
 * mount what earlier ones uploaded instead of sending it again.
 */
export class BlobLocations {
  private readonly byBlob = new Map<string, Set<string>>();

  add(registry: string, digest: Digest, repository: string): void {
    const key = `${registry} ${digest}`;
    const repositories = this.byBlob.get(key) ?? new Set<string>();
    repositories.add(repository);
    this.byBlob.set(key, repositories);
  }

  repositories(registry: string, digest: Digest): string[] {
    return [...(this.byBlob.get(`${registry} ${digest}`) ?? [])];
  }
}

export interface RegistryDestinationOptions {
  /** Upload chunk size (also the largest blob sent in one PUT). */
  chunkSize?: number;
  onEvent?: (event: TransferEvent) => void;
}

export class RegistryDestination implements ImageDestination {
  readonly where: string;
  private readonly documents: Document[] = [];

  constructor(
    private readonly client: RegistryClient,
    private readonly repository: string,
    private readonly locations: BlobLocations,
    private readonly options: RegistryDestinationOptions = {},
  ) {
    this.where = `${client.registry}/${repository}`;
  }

  has(descriptor: Descriptor): Promise<boolean> {
    return this.client.blobExists(this.repository, descriptor.digest, true);
  }

  /**
   * One whole blob transfer, retried as one: a mount attempt from a
   * repository known to hold it (a refused mount answers with an open
   * upload, which the bytes then go to), else the upload, which after a
   * failure goes on from where the registry says it got to. After a failed
   * attempt the registry is asked first: the request that failed may have
   * completed the blob, with only its answer lost.
   */
  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>, onProgress: (done: number) => void): Promise<BlobArrival> {
    const { client, repository } = this;
    const emit = this.options.onEvent ?? (() => undefined);
    const from = this.locations.repositories(client.registry, descriptor.digest).find((candidate) => candidate !== repository);
    const upload = new BlobUpload(client, open, repository, descriptor, {
      ...(this.options.chunkSize !== undefined ? { chunkSize: this.options.chunkSize } : {}),
      onProgress,
      onResume: (offset, restarted) => emit({ type: 'resume', digest: descriptor.digest, offset, restarted }),
    });
    let mountTried = false;
    let attempts = 0;
    const status = await client.withRetries(async (): Promise<BlobStatus> => {
      if (attempts++ > 0 && (await client.blobExists(repository, descriptor.digest, true))) return upload.started ? 'pushed' : 'exists';
      if (from !== undefined && !mountTried) {
        const location = await client.mountBlob(repository, descriptor.digest, from);
        mountTried = true;
        if (!location) return 'mounted';
        upload.openedAt(location);
      }
      await upload.send();
      return 'pushed';
    });
    this.locations.add(client.registry, descriptor.digest, repository);
    return status === 'mounted' ? { status, from: from! } : { status };
  }

  async putSmallBlob(descriptor: Descriptor, bytes: Buffer): Promise<BlobArrival> {
    if (await this.has(descriptor)) {
      this.locations.add(this.client.registry, descriptor.digest, this.repository);
      return { status: 'exists' };
    }
    return this.putBlob(descriptor, async () => Readable.from([bytes]), () => {});
  }

  async putDocument(document: Document): Promise<void> {
    this.documents.push(document);
  }

  /** A small blob this copy sent (a signature's bundle), read back for a policy before the tag is put. */
  async readSmall(digest: Digest): Promise<Buffer> {
    return verifiedBytes(await readCapped(await this.client.getBlob(this.repository, digest), 'image'), digest, `${this.where}@${digest}`);
  }

  /**
   * The documents by digest, children first (a registry refuses an index
   * whose children it lacks), the image under its tag (or its digest), then
   * each referrer after its subject. A registry that answers a referrer
   * without an OCI-Subject header has no referrers API: they are listed in
   * their subject's fallback tag, one update per subject.
   */
  async commit({ image, referrers }: DestinationNames): Promise<void> {
    const { client, repository } = this;
    const byDigest = new Map(this.documents.map((document) => [document.descriptor.digest, document]));
    const referrerDigests = new Set(referrers.map(({ descriptor }) => descriptor.digest));
    for (const { descriptor, bytes } of this.documents) {
      if (descriptor.digest === image.descriptor.digest || referrerDigests.has(descriptor.digest)) continue;
      await client.putManifest(repository, descriptor.digest, bytes, descriptor.mediaType);
    }
    const top = byDigest.get(image.descriptor.digest)!;
    await client.putManifest(repository, image.tags[0]?.tag ?? image.descriptor.digest, top.bytes, top.descriptor.mediaType);
    const unindexed = new Map<Digest, Descriptor[]>();
    for (const { subject, descriptor } of referrers) {
      const document = byDigest.get(descriptor.digest)!;
      const answer = await client.putManifest(repository, descriptor.digest, document.bytes, descriptor.mediaType);
      if (answer.subject === undefined) unindexed.set(subject, [...(unindexed.get(subject) ?? []), referrerDescriptor(document)]);
    }
    for (const [subject, descriptors] of unindexed) await addToReferrersTag(client, repository, subject, descriptors);
  }

  async abort(): Promise<void> {}
}
