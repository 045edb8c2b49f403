/**
 * `rootfs copy SRC DST`: an image from any transport to any other (skopeo's
 * names, plus `rootfs:` for the store), through the store: a source
 * (image-transport.ts) brings the images into a store, verified, names
 * last; a sink takes them out of it, converting what the sink asks for.
 * From a registry to another, or into an archive, it is the one copy
 * (engine/copy.ts) straight there. Otherwise, when neither
 * end is the store, the image passes through a private store made for the
 * copy (beside the destination, else in $TMPDIR) and removed after it, so
 * the user's store is never opened.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { parseReference } from '../oci/reference.js';
import type { TransportAddress } from './address.js';
import { archiveOutOfStore, archiveIntoStore } from './archive-transport.js';
import type { CopyOptions, CopyResult, OutOfStore, IntoStore } from './transport.js';
import { withPrivateStore } from './private-store.js';
import { copyBetweenRegistries, copyRegistryToArchive, registryOutOfStore, registryIntoStore } from './registry-transport.js';

export type { CopiedImage, CopyOptions, CopyResult } from './transport.js';

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
    return options.withStore(false, async (store) => {
      const { images, referrers } = await sourceOf(source).into(store, target, options);
      return { images, referrers };
    });
  }
  // From a registry to another or into an archive: the one copy straight there, nothing staged here.
  if (source.kind === 'registry' && destination.kind === 'registry') return copyBetweenRegistries(source.address, destination.address, options);
  if (source.kind === 'registry' && destination.kind === 'archive') return copyRegistryToArchive(source.address, destination.address, options);
  const sink = sinkOf(destination);
  return withPrivateStore(sink.output, async (store) => {
    const arrived = await sourceOf(source).into(store, undefined, options);
    return sink.from(store, arrived.texts, options);
  });
}
