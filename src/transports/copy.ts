/**
 * `rootfs copy SRC DST`: an image from any transport to any other (skopeo's
 * names, plus `rootfs:` for the store). With the store at one end, a
 * transport's whole command (transport.ts: load or pull into it, save or
 * push out of it). Between two other media, the one copy (engine/copy.ts)
 * straight from source to destination: from a registry as it streams; from
 * an archive once it is staged in a store of the copy's own, beside the
 * destination or in $TMPDIR and removed after, so the user's store is never
 * opened.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { parseReference } from '../oci/reference.js';
import type { TransportAddress } from './address.js';
import { archiveOutOfStore, archiveIntoStore, copyFromArchive } from './archive-transport.js';
import type { CopyOptions, CopyResult, OutOfStore, IntoStore } from './transport.js';
import { copyBetweenRegistries, copyRegistryToArchive, registryOutOfStore, registryIntoStore } from './registry-transport.js';

export type { CopyOptions, CopyResult } from './transport.js';

type End = Exclude<TransportAddress, { kind: 'store' }>;

/** The transports, by the kind of address address.ts parses: each a source and a sink. */
const transports: { [K in End['kind']]: { source(address: Extract<End, { kind: K }>['address']): IntoStore; sink(address: Extract<End, { kind: K }>['address']): OutOfStore } } = {
  archive: { source: archiveIntoStore, sink: archiveOutOfStore },
  registry: { source: registryIntoStore, sink: registryOutOfStore },
};

/** The table's entry for an end (TypeScript cannot correlate the kind with its address through an index: the table's type does). */
function transportOf(end: End): { source(address: End['address']): IntoStore; sink(address: End['address']): OutOfStore } {
  return transports[end.kind] as { source(address: End['address']): IntoStore; sink(address: End['address']): OutOfStore };
}

/** A copy onto its own source would replace what it is reading (or add an image to itself): refused before anything is read. */
async function refuseSameArchive(source: TransportAddress, destination: TransportAddress): Promise<void> {
  if (source.kind !== 'archive' || destination.kind !== 'archive' || source.address.path === '-' || destination.address.path === '-') return;
  const [from, to] = await Promise.all([source.address.path, destination.address.path].map((path) => stat(path).catch(() => undefined)));
  const same = resolve(source.address.path) === resolve(destination.address.path) || (from !== undefined && to !== undefined && from.dev === to.dev && from.ino === to.ino);
  if (same) throw new UsageError(`${destination.address.path}: the destination is the source; copy to another path`);
}

function sourceOf(end: End): IntoStore {
  return transportOf(end).source(end.address);
}

function sinkOf(end: End): OutOfStore {
  return transportOf(end).sink(end.address);
}

export async function copyImages(source: TransportAddress, destination: TransportAddress, options: CopyOptions): Promise<CopyResult> {
  await refuseSameArchive(source, destination);
  // manifest.json holds one config per image: every platform asked for could not all go there.
  const format = destination.kind === 'archive' ? destination.address.format : undefined;
  if (options.allPlatforms && (format === 'docker-archive' || format === 'docker-legacy')) throw new UsageError(`--all-platforms: a ${format} archive holds one platform per image; copy every platform to oci: or oci-archive:, or one with --platform`);
  if (source.kind === 'store') {
    if (destination.kind === 'store') throw new UsageError(`rootfs:${source.ref} to rootfs:${destination.ref} is a new name in the same store: rootfs tag ${source.ref} ${destination.ref}`);
    const to = destination;
    return options.withStore(true, (store) => sinkOf(to).from(store, [source.ref], options));
  }
  if (destination.kind === 'store') {
    const target = parseReference(destination.ref);
    return options.withStore(false, (store) => sourceOf(source).into(store, target, options));
  }
  // From a registry to another or into an archive: the one copy straight there, nothing staged here.
  if (source.kind === 'registry') return destination.kind === 'registry' ? copyBetweenRegistries(source.address, destination.address, options) : copyRegistryToArchive(source.address, destination.address, options);
  return copyFromArchive(source.address, destination, options);
}
