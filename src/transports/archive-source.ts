/**
 * An archive or layout as the source of the one copy (engine/copy.ts), once
 * ArchiveContents has read it in its one pass (a stream cannot be read by
 * digest before its end: docker save writes manifest.json last): documents
 * and blobs by digest from the staged members (or the store's own copy of a
 * blob it held already), each layer with what was learnt of it as it
 * streamed, the referrers index.json lists, and the documents made here for
 * a classic docker-archive image (its manifest, and its config, which such
 * an archive keeps as a metadata file).
 */
import { Readable } from 'node:stream';
import { DigestMismatchError, InvalidInputError } from '../errors.js';
import { sha256 } from '../oci/digest.js';
import type { ImageSource, InspectedBlob } from '../oci/image-ends.js';
import { blobMemberName } from '../oci/layout.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type Digest, type Manifest } from '../oci/types.js';
import { parseIndex, parseManifest } from '../oci/validate.js';
import type { ArchiveContents, BlobMember } from './contents.js';

export class ArchiveSource implements ImageSource {
  readonly sender = 'the archive';
  readonly layersChecked = true;
  readonly defaultsToHostPlatform = false;
  private readonly made = new Map<Digest, Buffer>();
  private referrersBySubject: Map<Digest, Descriptor[]> | undefined;

  /** omitted: the layers index.json says a delta save left out on purpose, which the store must hold. */
  constructor(
    private readonly contents: ArchiveContents,
    private readonly omitted: ReadonlySet<Digest>,
  ) {}

  get where(): string {
    return this.contents.archive;
  }

  blobWhere(digest: Digest): string {
    return this.contents.where(this.contents.blobByDigest(digest)?.name ?? blobMemberName(digest));
  }

  /** A document made for the archive's image (a classic archive's manifest) or one it keeps outside blobs/ (its config): served by digest. */
  hold(bytes: Buffer): Digest {
    const digest = sha256(bytes);
    this.made.set(digest, bytes);
    return digest;
  }

  async readDocument(descriptor: Descriptor): Promise<Buffer> {
    const made = this.made.get(descriptor.digest);
    if (made) return made;
    const member = this.member(descriptor.digest);
    return this.contents.bytes(member.name, member.name);
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    const made = this.made.get(descriptor.digest);
    if (made) return Readable.from([made]);
    this.member(descriptor.digest);
    return this.contents.openBlob(descriptor.digest);
  }

  /**
   * Whether the archive carries a blob. A manifest counts only with every
   * blob it names, or left out on purpose (containerd exports every
   * platform's manifest and one platform's layers: an index keeps the rest
   * listed, not copied); one that cannot be read counts, for the copy to
   * report what is wrong with it.
   */
  async holds(descriptor: Descriptor): Promise<boolean> {
    if (this.made.has(descriptor.digest)) return true;
    const member = this.contents.blobByDigest(descriptor.digest);
    // A member under the digest's name that is not those bytes (a link to another blob) is there, for member() to refuse.
    if (!member) return this.contents.has(blobMemberName(descriptor.digest));
    if (!isManifestMediaType(descriptor.mediaType)) return true;
    let manifest: Manifest;
    try {
      manifest = parseManifest(JSON.parse(this.contents.bytes(member.name, member.name).toString('utf8')), member.name);
    } catch {
      return true;
    }
    return [manifest.config, ...manifest.layers].every((blob) => this.made.has(blob.digest) || this.contents.blobByDigest(blob.digest) !== undefined || this.omitted.has(blob.digest));
  }

  notHeld(manifest: Descriptor, missing: { config?: Digest; layers: Digest[] }, image: string): Error {
    const where = this.blobWhere(manifest.digest);
    if (missing.config !== undefined) return new InvalidInputError(where, `image ${image}: its config ${missing.config} is not in the archive`);
    // A layer left out was looked for in the store as the archive was read: it is in neither.
    const { layers } = missing;
    return new InvalidInputError(where, `image ${image}: ${layers.length === 1 ? 'layer' : `${layers.length} layers`} neither in the archive nor in this store: ${layers.join(', ')}`);
  }

  inspected(digest: Digest): InspectedBlob | undefined {
    const member = this.contents.blobByDigest(digest);
    if (!member) return undefined;
    const { size, compression, diffId, notALayer } = member;
    return { size, compression, diffId, ...(notALayer ? { notALayer } : {}) };
  }

  /** The index.json entries that are referrers (a manifest or index in the archive naming a subject: how oras, skopeo and save list them), grouped once. */
  async referrersOf(subject: Digest): Promise<Descriptor[]> {
    this.referrersBySubject ??= this.listReferrers();
    return this.referrersBySubject.get(subject) ?? [];
  }

  private listReferrers(): Map<Digest, Descriptor[]> {
    const bySubject = new Map<Digest, Descriptor[]>();
    if (!this.contents.has('index.json')) return bySubject;
    const index = parseIndex(this.contents.json<unknown>('index.json', 'index.json').value, this.contents.where('index.json'));
    for (const entry of index.manifests) {
      const subject = subjectOf(this.contents, entry);
      if (subject === undefined) continue;
      const listed = bySubject.get(subject);
      if (listed) listed.push(entry);
      else bySubject.set(subject, [entry]);
    }
    return bySubject;
  }

  retry<T>(_blob: Descriptor, transfer: () => Promise<T>): Promise<T> {
    return transfer();
  }

  close(): void {}

  /** The member holding digest's bytes: a manifest that names a blob the archive does not carry is refused, naming it. */
  private member(digest: Digest): BlobMember {
    const member = this.contents.blobByDigest(digest);
    if (member) return member;
    const name = blobMemberName(digest);
    if (!this.contents.has(name)) throw new InvalidInputError(this.blobWhere(digest), 'named by a manifest or index, but not in the archive');
    // A link under the digest's name to another member: what it leads to must be those bytes.
    const linked = this.contents.blob(name, name);
    throw new DigestMismatchError(this.contents.where(name), digest, linked.digest);
  }
}

/**
 * The subject an index.json entry names, when it is a referrer: a manifest
 * or index in the archive whose document names one. An entry that cannot be
 * read is no referrer: the image checks report it.
 */
export function subjectOf(contents: ArchiveContents, entry: Descriptor): Digest | undefined {
  if (!isManifestMediaType(entry?.mediaType) && !isIndexMediaType(entry?.mediaType)) return undefined;
  const member = contents.blobByDigest(entry.digest);
  if (!member?.looksLikeJson) return undefined;
  try {
    const subject = (contents.json<{ subject?: { digest?: unknown } } | null>(member.name, member.name).value)?.subject?.digest;
    return typeof subject === 'string' ? (subject as Digest) : undefined;
  } catch {
    return undefined;
  }
}
