/**
 * `rootfs copy`'s view of a transport, around the store: IntoStore brings
 * images into a store, verified, names last (load, pull); OutOfStore takes
 * them out of one (save, push). Not the one copy's ends (oci/image-ends.ts
 * ImageSource and ImageDestination, which each medium implements): these
 * are whole commands, for a copy with the store at one end; a copy between
 * two other media is the one copy between them. copy.ts holds the one table of
 * transports; adding one is a module with the two, a line there, and its
 * name in address.ts.
 */
import type { Readable, Writable } from 'node:stream';
import type { MovedImage } from '../oci/image-ends.js';
import type { ImageReference } from '../oci/reference.js';
import type { Digest } from '../oci/types.js';
import type { TransferOptions } from '../registry/transfer.js';
import type { Store } from '../store/store.js';
import type { PartSetReading } from './load.js';
import type { MoveOptions } from '../engine/copy.js';
import { findImage } from '../store/resolve.js';

/** A copy: the move's options (engine/copy.ts MoveOptions), and what its ends need: the part set reading, the standard streams, the user's store, a registry's connection. */
export interface CopyOptions extends MoveOptions {
  /** How an archive end that is a part set (rootfs split) is read: its manifest's gate, and its repairs. */
  partSet?: PartSetReading;
  stdin: { input: Readable; name: string };
  stdout: Writable;
  /** Runs fn with the user's store open; only called when an end is `rootfs:` (readOnly when it is the source). */
  withStore<T>(readOnly: boolean, fn: (store: Store) => Promise<T>): Promise<T>;
  /** The connection options (credentials, TLS) for a registry end. */
  registry(host: string): Promise<TransferOptions>;
}

export interface CopyResult {
  images: MovedImage[];
  /** Referrers that went with them. */
  referrers: number;
}

/** A transport images come from, as a whole command: it brings them into store, named target when given, else as it names them. */
export interface IntoStore {
  into(store: Store, target: ImageReference | undefined, options: CopyOptions): Promise<CopyResult>;
}

/** A transport images go to, as a whole command: it takes texts (names or digests) out of store. */
export interface OutOfStore {
  from(store: Store, texts: string[], options: CopyOptions): Promise<CopyResult>;
}

/** One name (or digest) per image among texts, the first given for each. */
export async function oneTextPerImage(store: Store, texts: string[]): Promise<string[]> {
  const seen = new Set<Digest>();
  const out: string[] = [];
  for (const text of texts) {
    const { descriptor } = await findImage(store, text);
    if (seen.has(descriptor.digest)) continue;
    seen.add(descriptor.digest);
    out.push(text);
  }
  return out;
}
