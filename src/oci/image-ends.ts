/**
 * The two ends of a move of an image, as each medium implements them once
 * (go-containerregistry's v1.Image and remote.Write, containers/image's
 * ImageSource and ImageDestination): a source says how it reads one
 * document or blob and lists referrers; a destination says what it holds,
 * how it takes one blob or document, and how names are given last. The one
 * copy, engine/copy.ts, owns everything between: the walk, the
 * platform, reuse, verification, the media-type policy, the referrer
 * closure, beforeNames and the order of names.
 */
import type { Readable } from 'node:stream';
import type { Compression } from '../compress/index.js';
import type { ImageReference } from './reference.js';
import type { Descriptor, Digest } from './types.js';

/** What a copy tells as it goes, per blob and overall. */
export type TransferEvent =
  /** A blob is settled: the destination already had it, it was mounted from another repository, or its bytes were copied. */
  | { type: 'blob'; digest: Digest; size: number; status: BlobStatus; from?: string }
  | { type: 'progress'; digest: Digest; size: number; done: number }
  /** An interrupted upload goes on at offset (0 and restarted: in a new upload). */
  | { type: 'resume'; digest: Digest; offset: number; restarted: boolean }
  /** A layer about to be rewritten in another compression (before it is read). */
  | { type: 'convert'; conversion: LayerConversion }
  /** Something odd the copy went on past (a referrer not taken). */
  | { type: 'warning'; message: string }
  /** Something said that is no failure: a layer whose media type its bytes contradict, read as the bytes say (oci/layer-media.ts). */
  | { type: 'notice'; message: string }
  /** A failure that may pass (message: what failed, where, why); attempt `attempt` of `of` follows. */
  | { type: 'retry'; message: string; attempt: number; of: number };

/** A layer the copy rewrites in another compression. */
export interface LayerConversion {
  layer: Descriptor;
  /** What the bytes are, whatever the layer's media type says. */
  from: Compression;
  to: 'none' | 'gzip' | 'zstd';
  /** format: the destination cannot hold `from` (zstd in a docker archive); asked: --compression. */
  why: 'format' | 'asked';
}

/** How a blob reached the destination: there already, mounted from another repository of the same registry, or its bytes sent (pushed to a registry, pulled into a store, written into an archive). */
export type BlobStatus = 'exists' | 'mounted' | 'pushed' | 'pulled' | 'written';

/** How a blob reached the destination, and from which repository when it was mounted. */
export interface BlobArrival {
  status: BlobStatus;
  from?: string;
}

/** Where a layer sits in the manifest that names it (the first, when several do): an archive chooses the layer a delta patches by it. */
export interface LayerPlace {
  position: number;
}

/** What a source learnt of a blob as it took it in, every byte hashed and a layer decompressed (an archive, staged in one pass). */
export interface InspectedBlob {
  size: number;
  /** What its bytes are, whatever a media type says. */
  compression: Compression;
  /** The sha256 of what it decompresses to (its digest when it is not compressed). */
  diffId: Digest;
  /** Why, decompressed, it is not a tar whose names stay inside the root. */
  notALayer?: Error;
}

/** A manifest or index with the exact bytes its digest covers. */
export interface Document {
  descriptor: Descriptor;
  bytes: Buffer;
}

export interface ImageSource {
  /** How messages name it: a registry repository (HOST/REPO), a store's directory. */
  readonly where: string;
  /** Who sends the bytes, in a message: "the registry", "the store". */
  readonly sender: string;
  /** How a message names one blob here, when WHERE@DIGEST would not say where to look (a store: the blob's file). */
  blobWhere?(digest: Digest): string;
  /** A manifest's or index's exact bytes; the copy checks them against the descriptor. */
  readDocument(descriptor: Descriptor): Promise<Buffer>;
  /** A blob's bytes as they are stored; the copy checks size, digest and, for a layer, what it decompresses to. */
  openBlob(descriptor: Descriptor): Promise<Readable>;
  /** The manifests listed as subject's referrers (anyone may list one: the copy takes those that name the subject). */
  referrersOf(subject: Digest): Promise<Descriptor[]>;
  /**
   * Layers here were checked when they came in (the store, which takes none
   * unchecked): only their digest is checked as they are read, not what they
   * decompress to again.
   */
  readonly layersChecked: boolean;
  /**
   * From an index here a copy takes this machine's platform unless told
   * otherwise (a registry offers every platform there is, as docker pull
   * and skopeo copy see it); false where the index holds what was chosen
   * to be kept (a store, an archive), which goes whole.
   */
  readonly defaultsToHostPlatform: boolean;
  /** Whether every blob is there before anything is sent (a store can say; a registry is asked as each is read). */
  holds?(descriptor: Descriptor): Promise<boolean>;
  /** The failure for blobs manifest names that holds() said are not here, when this medium can say more than "not in SOURCE" (an archive: left out, and not in this store either). */
  notHeld?(manifest: Descriptor, missing: { config?: Digest; layers: Digest[] }, image: string): Error;
  /**
   * What the source learnt of a blob as it took it in (an archive, read once
   * before any of it could be read by digest): the copy holds a layer to
   * the manifest and config that name it by this, not by reading it again.
   */
  inspected?(digest: Digest): InspectedBlob | undefined;
  /** One whole transfer of blob as this medium retries it (a registry: failures that may pass, a bounded number of times). */
  retry<T>(blob: Descriptor, transfer: () => Promise<T>): Promise<T>;
  close(): void;
}

/**
 * An image a command moved, as it is known where it went: what load, pull,
 * save, push and copy each return for every image.
 */
export interface MovedImage {
  /** Its names there as docker shows them ("base:latest", "127.0.0.1:5000/ns/app:1.0"); none for an image kept by its digest. */
  tags: string[];
  /** Its ID: the config's digest (docker's image ID), or an index's own digest. */
  id: Digest;
  /** What the names point at: the manifest, or the index kept whole (new when layers were recompressed). */
  descriptor: Descriptor;
  /** Referrers that went with it. */
  referrers: number;
}

/** The names a copy gives at its end, all at once, after every blob and document. */
export interface DestinationNames {
  /** The image under its tags; with none, kept without a name (a store) or put by its digest (a registry). */
  image: { descriptor: Descriptor; tags: ImageReference[] };
  referrers: Array<{ subject: Digest; descriptor: Descriptor }>;
}

export interface ImageDestination {
  readonly where: string;
  /** Why it has no place for referrers (a docker-legacy archive lists none), for the warning that says how many stayed behind; absent: it takes them. */
  readonly refusesReferrers?: string;
  /** An index here may list manifests that are not here (an OCI layout may, as a store keeps an index of which one platform was pulled); a registry refuses such an index. */
  readonly takesPartialIndexes?: boolean;
  /** Layer compressions it cannot hold (a docker archive: zstd, which Docker before 23 cannot read); the copy makes them uncompressed. */
  readonly cannotHold?: readonly Compression[];
  /** Whether it holds the blob already, so that it is not sent (an archive: or leaves out a layer the receiving store holds). */
  has(descriptor: Descriptor, layer?: LayerPlace): Promise<boolean>;
  /**
   * Takes a blob from a stream the copy verifies as it flows: the stream
   * fails before its end when anything does not match, and then nothing may
   * be kept under the digest. open() gives the bytes from the start again,
   * for a destination that retries (a registry resumes by skipping).
   */
  putBlob(descriptor: Descriptor, open: () => Promise<Readable>, onProgress: (done: number) => void, layer?: LayerPlace): Promise<BlobArrival>;
  /** A config or other small blob the copy holds in memory, checked. */
  putSmallBlob(descriptor: Descriptor, bytes: Buffer): Promise<BlobArrival>;
  /**
   * Its own copy of a blob it held before this copy, for the copy to check a
   * layer against what a new manifest says of it (a store: read locally, not
   * sent again); undefined for one this copy put (checked as it came), and
   * absent where nothing can be read back (a registry, which the copy then trusts).
   */
  openHeld?(descriptor: Descriptor): Promise<Readable | undefined>;
  /** A fresh temp file for a blob the copy makes (a converted layer), on the destination's file system (an archive's may be larger than $TMPDIR); absent: the copy's own in $TMPDIR. */
  spoolPath?(): Promise<string>;
  /** A blob the copy made in a file from spoolPath(), its digest and size computed as it was written: moved in (renamed, where the destination is a directory). */
  putSpooled?(descriptor: Descriptor, path: string): Promise<BlobArrival>;
  /** A manifest or index, checked; given in the order they may take their place: children before what names them. */
  putDocument(document: Document): Promise<void>;
  /** A small blob this copy put or the destination holds, read back for a policy before any name (beforeNames); absent where no policy can run. */
  readSmall?(digest: Digest): Promise<Buffer>;
  /** Everything is in: the names, last. */
  commit(names: DestinationNames): Promise<void>;
  /** The copy failed: what this destination holds of it goes (a registry keeps what it took, which is harmless: no name refers to it). */
  abort(): Promise<void>;
}
