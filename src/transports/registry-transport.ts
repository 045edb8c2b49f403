/** A registry as a copy's end (docker://): pull brings an image in, push takes images out (recompressed on the way when asked: a registry takes blobs as they are). */
import { UsageError } from '../errors.js';
import type { ImageSource, MovedImage } from '../oci/image-ends.js';
import { familiarName, type ImageReference } from '../oci/reference.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { pullImage } from '../registry/pull.js';
import { copyImage, type CopyImageOptions } from '../engine/copy.js';
import { BlobLocations, RegistryDestination, RegistrySource } from '../registry/image-ends.js';
import { destinationOn, pushImage } from '../registry/push.js';
import { connect } from '../registry/transfer.js';
import type { ArchiveAddress, FormatName, RegistryAddress } from './address.js';
import { archivedTags, archiveTag, writeArchive } from './archive-destination.js';
import { oneTextPerImage, type CopyOptions, type CopyResult, type OutOfStore, type IntoStore } from './transport.js';
import { planLoadedPush, planSave, type PlannedPush } from './registry.js';
import { sinceLayers } from './save.js';
import { archiveCopyOptions, type StagedArchive } from './load.js';

export function registryIntoStore(address: RegistryAddress): IntoStore {
  return {
    async into(store, target, options) {
      const reference = address.reference;
      if (!reference) throw new UsageError(`docker://${address.registry} names a registry but no image; copy takes docker://${address.registry}/REPO[:TAG|@DIGEST]`);
      // pullImage's platform rule, the same as pull's and load's: this machine's unless one or all are asked for.
      const pulled = await pullImage(store, reference, target, { ...options, ...(await options.registry(reference.registry)), untagged: true });
      return { images: [pulled], referrers: pulled.referrers };
    },
  };
}

/**
 * fn with the image a registry address names as a copy's source: the
 * resolved tag or digest, connected; closed after.
 */
async function fromRegistry<T>(from: RegistryAddress, options: CopyOptions, fn: (source: RegistrySource, top: Descriptor, reference: ImageReference) => Promise<T>): Promise<T> {
  const reference = from.reference;
  if (!reference) throw new UsageError(`docker://${from.registry} names a registry but no image; copy takes docker://${from.registry}/REPO[:TAG|@DIGEST]`);
  const onEvent = options.onEvent ?? (() => undefined);
  const client = await connect(reference.registry, { ...(await options.registry(reference.registry)), onEvent });
  const source = new RegistrySource(client, reference.repository, onEvent);
  try {
    return await fn(source, await source.resolve(reference.digest ?? reference.tag!), reference);
  } finally {
    source.close();
  }
}

/** What every copy out of a registry asks of the one copy: the move's options, and the image's name and tags. */
function copyOptionsFor(reference: ImageReference, tags: ImageReference[], options: CopyOptions): CopyImageOptions {
  return { ...options, name: familiarName(reference), tags };
}

/**
 * A copy from one registry to another: the one copy between the two
 * registries' ends, each blob streamed from the source through its checks
 * into the destination, nothing staged on this host but a layer being
 * recompressed (--compression). The destination is the address's
 * repository and tag, or with HOST alone the source's repository path on it.
 */
export function copyBetweenRegistries(from: RegistryAddress, to: RegistryAddress, options: CopyOptions): Promise<CopyResult> {
  return fromRegistry(from, options, async (source, top, reference) => {
    const destination = to.reference ?? destinationOn(to.registry, reference);
    const copied = await copyIntoRegistry(source, top, destination, (tags) => copyOptionsFor(reference, tags, options), options, new BlobLocations());
    return { images: [copied], referrers: copied.referrers };
  });
}

/**
 * The one copy of an image into a registry repository, connected for it and
 * closed after, tagged with the destination's tag; a destination by digest
 * must be the image's own. locations: what the pushes of one command learnt
 * of where blobs are, to mount rather than send them.
 */
async function copyIntoRegistry(source: ImageSource, top: Descriptor, destination: ImageReference, copyOptions: (tags: ImageReference[]) => CopyImageOptions, options: CopyOptions, locations: BlobLocations): Promise<MovedImage> {
  if (destination.digest !== undefined && destination.digest !== top.digest) throw new UsageError(`cannot copy to ${familiarName(destination)}: the image's digest is ${top.digest}`);
  const onEvent = options.onEvent ? { onEvent: options.onEvent } : {};
  const client = await connect(destination.registry, { ...(await options.registry(destination.registry)), ...onEvent });
  try {
    return await copyImage(source, top, new RegistryDestination(client, destination.repository, locations, onEvent), copyOptions(destination.tag !== undefined ? [destination] : []));
  } finally {
    client.close();
  }
}

/**
 * A copy from a registry into an archive or layout: the one copy straight
 * into it, under the reference's name (or the address's REF), nothing
 * staged on this host but a layer being recompressed.
 */
export function copyRegistryToArchive(from: RegistryAddress, to: ArchiveAddress & { format: FormatName }, options: CopyOptions): Promise<CopyResult> {
  return fromRegistry(from, options, (source, top, reference) =>
    writeArchive(to.path, options.stdout, { format: to.format, ...(to.ref !== undefined ? { ref: to.ref } : {}) }, async (destination) => {
      const tag = archiveTag(to.format, to.ref, familiarName(reference));
      const copied = await copyImage(source, top, destination, copyOptionsFor(reference, tag ? [tag] : [], options));
      return { images: [{ ...copied, tags: archivedTags(destination) }], referrers: copied.referrers };
    }),
  );
}

/**
 * Each image of a staged archive to a registry: to the address's repository
 * (one image), or with HOST alone to its own name's repository path there,
 * as push puts it (destinationOn).
 */
export async function copyStagedToRegistry(staged: StagedArchive, to: RegistryAddress, options: CopyOptions): Promise<CopyResult> {
  if (to.reference && staged.images.length > 1) throw new UsageError(`docker://${familiarName(to.reference)} names one image, but ${staged.contents.archive} holds ${staged.images.length} (give docker://${to.registry} alone to push each under its own name)`);
  const knownLocations = new BlobLocations();
  const result: CopyResult = { images: [], referrers: 0 };
  for (const image of staged.images) {
    const name = image.tags[0];
    const destination = to.reference ?? (name ? destinationOn(to.registry, name) : undefined);
    if (!destination) throw new UsageError(`${image.name} has no name to push under on ${to.registry}; give the destination (docker://${to.registry}/REPO:TAG)`);
    const copied = await copyIntoRegistry(staged.source, image.top, destination, (tags) => archiveCopyOptions(staged, image, tags, options), options, knownLocations);
    result.images.push(copied);
    result.referrers += copied.referrers;
  }
  return result;
}

export function registryOutOfStore(address: RegistryAddress): OutOfStore {
  return {
    async from(store, texts, options) {
      const pushed = await pushToRegistry(store, await oneTextPerImage(store, texts), address, options.platform, async (source, destination, push) => ({
        destination,
        result: await pushImage(store, source, destination, { ...options, ...(await options.registry(destination.registry)), ...push }),
      }));
      return { images: pushed.map(({ result: one }) => one), referrers: pushed.reduce((sum, { result: one }) => sum + one.referrers, 0) };
    },
  };
}

/** One image's push, as the caller makes it (the CLI reports each one as docker does), with what every push of the set shares. */
export type PushOne<T> = (source: string | Descriptor, destination: ImageReference, shared: { knownLocations: BlobLocations }) => Promise<T>;

/**
 * Pushes texts (names or digests in store) to the registry address names,
 * each where planSave puts it (with platform, that platform's manifest).
 * since (save --since): images the receiver holds, which a registry says
 * itself before each upload, so nothing is left out for them: each must
 * still be one this store holds, that one command line serves every output.
 */
export async function pushToRegistry<T>(store: Store, texts: string[], address: RegistryAddress, platform: Platform | undefined, pushOne: PushOne<T>, since: string[] = []): Promise<T[]> {
  await sinceLayers(store, since, platform);
  return pushPlanned(await planSave(store, texts, address, platform), pushOne);
}

/**
 * load --push HOST: every tag of every loaded image to HOST under its
 * repository path (planLoadedPush); the images without a name, which have
 * no repository there, are returned apart, not pushed.
 */
export async function pushLoaded<T>(images: MovedImage[], host: string, pushOne: PushOne<T>): Promise<{ pushed: T[]; untagged: MovedImage[] }> {
  const { pushes, untagged } = planLoadedPush(images, host);
  return { pushed: await pushPlanned(pushes, pushOne), untagged };
}

async function pushPlanned<T>(plan: PlannedPush[], pushOne: PushOne<T>): Promise<T[]> {
  // One map for every push, so later images mount the blobs earlier ones uploaded to another repository.
  const knownLocations = new BlobLocations();
  const results: T[] = [];
  for (const { source, destination } of plan) results.push(await pushOne(source, destination, { knownLocations }));
  return results;
}
