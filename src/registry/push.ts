/**
 * Pushing an image from the store: the one copy (engine/copy.ts) from the
 * store (store/image-ends.ts) to a registry repository
 * (registry/image-ends.ts): every blob the registry lacks (a
 * cross-repository mount when another repository of the same registry is
 * known to hold it, else an upload), then the manifests children first, the
 * tag last, then the referrers and cosign-style signature tags.
 */
import { UsageError } from '../errors.js';
import { copyImage, type MoveOptions } from '../engine/copy.js';
import { count } from '../text.js';
import { familiarName, parseReference, type ImageReference } from '../oci/reference.js';
import { isIndexMediaType, isManifestMediaType, withoutNameAnnotations, type Descriptor, type Digest } from '../oci/types.js';
import type { MovedImage } from '../oci/image-ends.js';
import { StoreSource } from '../store/image-ends.js';
import type { Store } from '../store/store.js';
import { findImage } from '../store/resolve.js';
import { BlobLocations, RegistryDestination } from './image-ends.js';
import { referrersTag } from './referrers.js';
import { connect, type TransferOptions } from './transfer.js';

/** A push: the move's options (engine/copy.ts MoveOptions; conversion: the manifests pushed are then new, and the signatures of the stored ones stay behind) and the connection's. */
export interface PushOptions extends TransferOptions, MoveOptions {
  /** Upload chunk size (also the largest blob sent in one PUT); default 32 MiB. */
  chunkSize?: number;
  knownLocations?: BlobLocations;
}

/**
 * Where an image named `ref` goes on another registry, keeping its path as
 * docker users retag for a private registry: "base:latest" →
 * "HOST/base:latest", "quay.io/ns/app:1" → "HOST/ns/app:1". For pushing
 * every image of an archive to one registry (`rootfs load --push HOST`).
 */
export function destinationOn(host: string, ref: ImageReference): ImageReference {
  const official = ref.registry === 'docker.io' && ref.repository.startsWith('library/') && !ref.repository.slice('library/'.length).includes('/');
  const path = official ? ref.repository.slice('library/'.length) : ref.repository;
  return parseReference(`${host}/${path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`);
}

/**
 * Pushes `source` — a store reference (name, name@digest, image ID) or an
 * index.json entry — to `destination`, a full reference with a tag, a
 * digest (which must be the image's), or both.
 */
export async function pushImage(store: Store, source: string | Descriptor, destination: ImageReference, options: PushOptions = {}): Promise<MovedImage> {
  const top = typeof source === 'string' ? await findEntry(store, source) : source;
  if (!isManifestMediaType(top.mediaType) && !isIndexMediaType(top.mediaType)) {
    throw new UsageError(`cannot push ${top.digest}: media type ${top.mediaType} is not an image manifest or index`);
  }
  if (destination.digest !== undefined && destination.digest !== top.digest) {
    throw new UsageError(`cannot push ${familiarName(destination)}: the image's digest is ${top.digest}`);
  }
  const locations = options.knownLocations ?? new BlobLocations();
  await learnLocations(store, destination.registry, locations);
  const { registry, repository } = destination;
  const client = await connect(registry, options);
  let copied: MovedImage;
  try {
    const registryEnd = new RegistryDestination(client, repository, locations, {
      ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    copied = await copyImage(new StoreSource(store), top, registryEnd, { ...options, name: familiarName(destination), what: `push ${familiarName(destination)}`, tags: destination.tag !== undefined ? [destination] : [] });
  } finally {
    client.close();
  }
  let cosign = 0;
  if (options.referrers !== false) {
    const tagged = await cosignTagged(store, top.digest);
    // Signatures of the stored manifest do not sign a recompressed one.
    if (copied.descriptor.digest !== top.digest) {
      if (tagged.length > 0) options.onEvent?.({ type: 'warning', message: `${count(tagged.length, 'cosign signature tag')} left out: the image's digest changed when its layers were recompressed` });
    } else {
      for (const { tag, descriptor } of tagged) {
        await pushImage(store, descriptor, { registry, repository, tag }, { ...options, knownLocations: locations, referrers: false });
        cosign++;
      }
    }
  }
  return { ...copied, referrers: copied.referrers + cosign };
}

/** Images the store holds under cosign's tags for digest (`sha256-<hex>.sig`, `.att`, `.sbom`), one per tag. */
async function cosignTagged(store: Store, digest: Digest): Promise<Array<{ tag: string; descriptor: Descriptor }>> {
  const wanted = new Set(['sig', 'att', 'sbom'].map((suffix) => `${referrersTag(digest)}.${suffix}`));
  const found = new Map<string, Descriptor>();
  for (const image of await store.listImages()) if (image.ref.tag !== undefined && wanted.has(image.ref.tag) && !found.has(image.ref.tag)) found.set(image.ref.tag, withoutNameAnnotations(image.descriptor));
  return [...found].map(([tag, descriptor]) => ({ tag, descriptor }));
}

/** The store's one resolver; no platform is chosen, so an index lacking this machine's platform is pushed whole. */
async function findEntry(store: Store, source: string): Promise<Descriptor> {
  const found = await findImage(store, source);
  return found.manifestDescriptor ?? found.descriptor;
}

/** Images in the store named on this registry tell which of its repositories hold which blobs (they were pulled from or pushed there). */
async function learnLocations(store: Store, registry: string, locations: BlobLocations): Promise<void> {
  for (const image of await store.listImages()) {
    if (image.ref.registry !== registry || !(await store.hasBlob(image.descriptor.digest))) continue;
    for (const digest of await blobsOf(store, image.descriptor)) locations.add(registry, digest, image.ref.repository);
  }
}

/** The configs and layers under descriptor that the store holds the manifests of. */
async function blobsOf(store: Store, descriptor: Descriptor): Promise<Digest[]> {
  const out: Digest[] = [];
  for await (const { descriptor: node } of store.walk([descriptor], undefined, true)) {
    if (!isManifestMediaType(node.mediaType) && !isIndexMediaType(node.mediaType)) out.push(node.digest);
  }
  return out;
}
