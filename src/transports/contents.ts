/**
 * An archive read once, in member order, into the store's temp area: what
 * `load` knows after the stream has passed. docker save puts manifest.json
 * last and stdin cannot seek, so nothing can be decided while members flow:
 * every large member goes into a pending BlobWriter while it is hashed (and,
 * if compressed, decompressed in a tee to learn its diff_id); only the
 * metadata documents named as such (manifest.json, index.json, oci-layout…,
 * each at most its cap in io/metadata.ts documentCaps) are kept in memory. A blob that looks like JSON (a
 * manifest or config) is read back from its temp file when a reader asks,
 * so memory does not grow with the size or number of members: what is kept
 * per member is its name, digest and size. Nothing is committed until the
 * copy of every image from it (archive-source.ts) has checked its whole
 * graph; abort() leaves no temp file behind.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectCompression, type Compression } from '../compress/index.js';
import { DigestMismatchError, fromFsError, InvalidInputError } from '../errors.js';
import { documentCaps, readMetadataSync, type DocumentCap } from '../io/metadata.js';
import { DigestStream, verifiedBytes } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { StagingArea } from '../store/staged.js';
import { parseJson } from '../oci/validate.js';
import { blobMemberName } from '../oci/layout.js';
import type { SourceMember } from './archive-members.js';
import { discard, Tap } from '../io/streams.js';
import { LayerInspector } from '../layers/inspect.js';


export interface BlobMember {
  kind: 'blob';
  name: string;
  digest: Digest;
  size: number;
  /** What the content starts with: a compressed layer, or 'none' for a plain tar or anything else. */
  compression: Compression;
  /** sha256 of the decompressed content (equals digest when uncompressed). */
  diffId: Digest;
  /** The member is small and starts like JSON (an OCI manifest or config blob): bytes() reads it back. */
  looksLikeJson?: boolean;
  /** Why the (decompressed) content is not a safe layer tar, if it is not: refused when a manifest names it as a layer. */
  notALayer?: Error;
}

export interface JsonMember {
  kind: 'json';
  name: string;
  bytes: Buffer;
}

export interface LinkMember {
  kind: 'link';
  name: string;
  /** Archive path the link resolves to (already checked to stay inside the archive). */
  target: string;
}

export type Member = BlobMember | JsonMember | LinkMember | { kind: 'directory'; name: string };

/** The cap of a member we never treat as a blob (the small metadata documents of both docker layouts and OCI); undefined for any other. */
function metadataCap(name: string): DocumentCap | undefined {
  // The indexes of a whole archive list every image, as a store's index.json does.
  if (name === 'manifest.json' || name === 'index.json' || name === 'repositories') return 'layoutIndex';
  if (name === 'oci-layout') return 'ociLayout';
  if (!name.includes('/') && name.endsWith('.json')) return 'image'; // classic <config hex>.json
  return /^[^/]+\/(json|VERSION)$/.test(name) ? 'image' : undefined; // classic <v1 id>/json, <v1 id>/VERSION
}

const blobName = /^blobs\/sha256\/([a-f0-9]{64})$/;

export interface ContentsProgress {
  bytes: number;
  blobs: number;
}

/** What a delta save left out, or a delta load took from the store. */
export interface LayerTally {
  layers: number;
  bytes: number;
}

export class ArchiveContents {
  readonly members = new Map<string, Member>();
  /** The blob members by digest (the first of a name, when the same bytes come twice): how a copy reads the archive. */
  private readonly blobs = new Map<Digest, BlobMember>();
  /** Where the blobs wait, unnamed, until load commits them with the names. */
  readonly staging: StagingArea;
  readonly progress: ContentsProgress = { bytes: 0, blobs: 0 };
  /** Layers the archive left out that were read from the store instead. */
  readonly fromStore: LayerTally = { layers: 0, bytes: 0 };
  /** Layers the archive carries as deltas, rebuilt from the store (bytes: the layers', not the deltas'). */
  readonly rebuilt: LayerTally = { layers: 0, bytes: 0 };

  constructor(
    private readonly store: Store,
    /** The archive as users name it, prefixed to every member in messages. */
    readonly archive: string,
    private readonly onProgress: (progress: ContentsProgress) => void = () => {},
  ) {
    this.staging = new StagingArea(store);
  }

  where(name: string): string {
    return `${this.archive}: ${name}`;
  }

  /** Reads every member; on any error the pending blobs are removed before it propagates. */
  async readAll(members: AsyncIterable<SourceMember>): Promise<void> {
    try {
      for await (const member of members) await this.add(member);
    } catch (err) {
      await this.staging.abort();
      throw err;
    }
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** The member a name refers to, following links inside the archive. */
  get(name: string, referrer: string): Exclude<Member, LinkMember> {
    let current = name;
    for (let hops = 0; hops < 40; hops++) {
      const member = this.members.get(current);
      if (!member) throw new InvalidInputError(this.where(referrer), `refers to ${JSON.stringify(name)}, which is not in the archive`);
      if (member.kind !== 'link') return member;
      current = member.target;
    }
    throw new InvalidInputError(this.where(name), 'too many levels of links');
  }

  /** The blob member holding digest's bytes, whatever its name (blobs/sha256/…, a classic <id>/layer.tar). */
  blobByDigest(digest: Digest): BlobMember | undefined {
    return this.blobs.get(digest);
  }

  /** A blob member's bytes, from its temp file or the store's copy (a blob the store holds is only hashed, never staged again). */
  openBlob(digest: Digest): Readable {
    return createReadStream(this.staging.pathOf(digest));
  }

  blob(name: string, referrer: string): BlobMember {
    const member = this.get(name, referrer);
    if (member.kind !== 'blob') throw new InvalidInputError(this.where(referrer), `refers to ${JSON.stringify(name)}, which is not a blob`);
    return member;
  }

  /** The exact bytes of a small document member (metadata or a JSON-looking blob). */
  bytes(name: string, referrer: string): Buffer {
    const member = this.get(name, referrer);
    if (member.kind === 'json') return member.bytes;
    if (member.kind === 'blob' && member.looksLikeJson) return this.readBack(member);
    if (member.kind === 'blob') throw new InvalidInputError(this.where(name), `not a JSON document (or larger than ${documentCaps.image} bytes)`);
    throw new InvalidInputError(this.where(referrer), `refers to ${JSON.stringify(name)}, which is a directory`);
  }

  /** A JSON-looking blob's bytes, from its temp file or the store, checked again against its digest. */
  private readBack(member: BlobMember): Buffer {
    const path = this.staging.pathOf(member.digest);
    return verifiedBytes(readMetadataSync(path, 'image'), member.digest, this.where(member.name));
  }

  json<T>(name: string, referrer: string): { value: T; bytes: Buffer } {
    const bytes = this.bytes(name, referrer);
    return { value: parseJson(bytes.toString('utf8'), this.where(name)) as T, bytes };
  }

  private async add(member: SourceMember): Promise<void> {
    const { name } = member;
    if (this.members.has(name)) throw new InvalidInputError(this.where(name), 'duplicate member in the archive');
    switch (member.type) {
      case 'directory':
        this.members.set(name, { kind: 'directory', name });
        return;
      case 'symlink':
      case 'hardlink': {
        const link = member.linkpath ?? '';
        // A symlink is relative to its own directory; a hardlink names an archive path.
        const joined = member.type === 'symlink' ? posix.join(posix.dirname(name), link) : posix.normalize(link);
        const target = joined.replace(/^(\.\/)+/, '');
        if (link.startsWith('/') || target === '..' || target.startsWith('../')) {
          throw new InvalidInputError(this.where(name), `link to ${JSON.stringify(link)} points outside the archive`);
        }
        this.members.set(name, { kind: 'link', name, target });
        return;
      }
      case 'file':
        break;
      default:
        throw new InvalidInputError(this.where(name), `unexpected ${member.type} member in an image archive`);
    }
    const cap = metadataCap(name);
    if (cap !== undefined) {
      if (member.size > documentCaps[cap]) throw new InvalidInputError(this.where(name), `${member.size} bytes is too large for an image metadata document`);
      const chunks: Buffer[] = [];
      for await (const chunk of member.body) chunks.push(chunk as Buffer);
      this.members.set(name, { kind: 'json', name, bytes: Buffer.concat(chunks) });
      return;
    }
    this.addBlob(await this.ingestBlob(member));
  }

  private addBlob(blob: BlobMember): void {
    this.members.set(blob.name, blob);
    if (!this.blobs.has(blob.digest)) this.blobs.set(blob.digest, blob);
  }

  /**
   * A layer the archive left out (a delta archive) that the store holds: read
   * from the store as if it were a member, hashed, sized and decompressed for
   * its diff_id, so that the format reader checks it like any other. False
   * when the store does not have it either.
   */
  async addFromStore(digest: Digest): Promise<boolean> {
    const name = blobMemberName(digest);
    if (this.members.has(name) || !(await this.store.hasBlob(digest))) return false;
    const path = this.store.blobPath(digest);
    try {
      const { size } = await stat(path);
      const blob = await this.ingestBlob({ name, type: 'file', size, body: createReadStream(path) }, path);
      this.addBlob(blob);
      this.fromStore.layers++;
      this.fromStore.bytes += blob.size;
      return true;
    } catch (err) {
      throw fromFsError(err, path);
    }
  }

  /**
   * A layer the archive carries as a delta, rebuilt (transports/delta-layers.ts):
   * staged under its digest, hashed, decompressed for its diff_id and tar
   * safety, exactly as a member is; `body` failing fails it.
   */
  async addRebuilt(digest: Digest, size: number, body: Readable, where: string): Promise<void> {
    const name = blobMemberName(digest);
    const blob = await this.ingestBlob({ name, type: 'file', size, body }, where);
    this.addBlob(blob);
    this.rebuilt.layers++;
    this.rebuilt.bytes += blob.size;
  }

  private async ingestBlob(member: SourceMember, where = this.where(member.name)): Promise<BlobMember> {
    const named = blobName.exec(member.name);
    const expected = named ? (`sha256:${named[1]}` as Digest) : undefined;
    // A blob the store already has is only hashed (to verify the archive), never rewritten.
    const writer = expected && (await this.store.hasBlob(expected)) ? undefined : this.staging.createWriter();
    let inspector: LayerInspector | undefined;
    try {
      const { compression, stream } = await detectCompression(member.body);
      inspector = new LayerInspector(compression, where);
      const digest = new DigestStream();
      let looksLikeJson: boolean | undefined;
      const capture = new Tap((chunk) => {
        looksLikeJson ??= member.size <= documentCaps.image && /^\s*[{[]/.test(chunk.toString('latin1', 0, 16));
        this.progress.bytes += chunk.length;
        this.onProgress(this.progress);
      });
      await pipeline(stream, digest, capture, inspector.tap, writer ?? discard());
      if (expected && digest.digest !== expected) throw new DigestMismatchError(where, expected, digest.digest);
      await inspector.done;
      if (writer) await this.staging.keep(digest.digest, writer);
      this.progress.blobs++;
      this.onProgress(this.progress);
      const { diffId, notALayer } = inspector.facts(digest.digest);
      const blob: BlobMember = { kind: 'blob', name: member.name, digest: digest.digest, size: digest.size, compression, diffId };
      if (looksLikeJson) blob.looksLikeJson = true;
      if (notALayer) blob.notALayer = notALayer;
      return blob;
    } catch (err) {
      inspector?.abort();
      await writer?.abort();
      throw err;
    }
  }
}
