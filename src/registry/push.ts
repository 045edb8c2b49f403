/**
 * Pushing an image from the store: every blob the registry lacks (HEAD
 * first; a cross-repository mount when another repository of the same
 * registry is known to hold it; else an upload), then the manifests — for a
 * multi-platform index the children by digest first (a nested index after
 * its own children), the index last under the tag, as the registry refuses
 * an index whose children it lacks.
 */
import { NotFoundError, UsageError } from '../errors.js';
import { formatPlatform } from '../oci/platform.js';
import { familiarName, parseReference, type ImageReference } from '../oci/reference.js';
import { isIndexMediaType, isManifestMediaType, withoutNameAnnotations, type Descriptor, type Digest } from '../oci/types.js';
import { childrenFirst, type GraphNode } from '../oci/walk.js';
import type { Store } from '../store/store.js';
import type { RegistryClient } from './client.js';
import { connect, forEachLimited, type Document, type TransferOptions } from './transfer.js';
import { BlobUpload } from './upload.js';
import { addToReferrersTag, referrerDescriptor, referrersTag } from './referrers.js';
import { findImage } from '../store/resolve.js';

/**
 * Which repositories of which registry are known to hold a blob. Pass one
 * map to several pushImage calls (a `load --push` of many images) so later
 * pushes mount what earlier ones uploaded instead of sending it again.
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

export interface PushOptions extends TransferOptions {
  /** Upload chunk size (also the largest blob sent in one PUT); default 32 MiB. */
  chunkSize?: number;
  knownLocations?: BlobLocations;
  /** false (--no-referrers): push the image alone, without its referrers and cosign-style signature tags. */
  referrers?: boolean;
}

export interface PushResult {
  /** Where it went, as docker shows it: "127.0.0.1:5000/ns/app:1.0". */
  reference: string;
  /** Digest and size of the manifest or index pushed under the tag. */
  digest: Digest;
  size: number;
  mediaType: string;
  /** Referrers pushed with it (each manifest whose subject it is, transitively) and cosign-style `sha256-<hex>.sig|.att|.sbom` images. */
  referrers: number;
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
export async function pushImage(store: Store, source: string | Descriptor, destination: ImageReference, options: PushOptions = {}): Promise<PushResult> {
  const top = await readDocument(store, typeof source === 'string' ? await findEntry(store, source) : source);
  if (destination.digest !== undefined && destination.digest !== top.descriptor.digest) {
    throw new UsageError(`cannot push to ${familiarName(destination)}: the image's digest is ${top.descriptor.digest}`);
  }
  const image = await graphOf(store, top);
  const referrers: Array<{ subject: Digest; graph: Graph }> = [];
  if (options.referrers !== false) {
    const onWarning = (message: string): void => options.onEvent?.({ type: 'warning', message });
    for (const { subject, descriptor } of await store.referrerClosure(await store.subjectsOf(top.descriptor), onWarning)) referrers.push({ subject, graph: await graphOf(store, await readDocument(store, descriptor)) });
  }
  const blobs = new Map<Digest, Descriptor>();
  for (const blob of [image, ...referrers.map(({ graph }) => graph)].flatMap((graph) => graph.blobs)) blobs.set(blob.digest, blob);
  // Checked before the registry is touched, so a store missing a layer does not leave uploads behind.
  for (const digest of blobs.keys()) if (!(await store.hasBlob(digest))) throw new NotFoundError(`cannot push ${familiarName(destination)}: blob ${digest} is not in the store ${store.dir}`);

  const locations = options.knownLocations ?? new BlobLocations();
  await learnLocations(store, destination.registry, locations);
  const { registry, repository } = destination;
  const client = await connect(registry, options);
  try {
    await forEachLimited([...blobs.values()], options.concurrency ?? 3, async (blob) => {
      await pushBlob(client, store, destination, blob, locations, options);
      locations.add(registry, blob.digest, repository);
    });
    for (const child of image.children) await client.putManifest(repository, child.descriptor.digest, child.bytes, child.descriptor.mediaType);
    const reference = destination.tag ?? top.descriptor.digest;
    await client.putManifest(repository, reference, top.bytes, top.descriptor.mediaType);
    await pushReferrers(client, repository, referrers);
  } finally {
    client.close();
  }
  let cosign = 0;
  if (options.referrers !== false) {
    for (const { tag, descriptor } of await cosignTagged(store, top.descriptor.digest)) {
      await pushImage(store, descriptor, { registry, repository, tag }, { ...options, knownLocations: locations, referrers: false });
      cosign++;
    }
  }
  return { reference: familiarName(destination), digest: top.descriptor.digest, size: top.descriptor.size, mediaType: top.descriptor.mediaType, referrers: referrers.length + cosign };
}

/** A manifest, or an index with every manifest and index under it, and the blobs under them. */
interface Graph {
  top: Document;
  /** The documents under top, each after the ones it names (pushed first: a registry refuses an index whose children it lacks). */
  children: Document[];
  blobs: Descriptor[];
}

/** The one walk (oci/walk.ts) from top, nested indexes followed to maxIndexDepth; every child of an index must be in the store, as the registry refuses an index with missing children. */
async function graphOf(store: Store, top: Document): Promise<Graph> {
  const inStore = async (node: GraphNode, all: Descriptor[]): Promise<Descriptor[]> => {
    if (node.document?.kind !== 'index') return all;
    for (const child of all) {
      if (!isManifestMediaType(child.mediaType) && !isIndexMediaType(child.mediaType)) throw new UsageError(`cannot push ${top.descriptor.digest}: its entry ${child.digest} (${child.mediaType}) is not an image manifest or index`);
      if (!(await store.hasBlob(child.digest))) throw new UsageError(`cannot push ${top.descriptor.digest}: its manifest ${child.digest} for ${child.platform ? formatPlatform(child.platform) : 'an unknown platform'} is not in the store`);
    }
    return all;
  };
  const nodes: GraphNode[] = [];
  const blobs: Descriptor[] = [];
  for await (const node of store.walk([top.descriptor], inStore)) {
    if (node.document) nodes.push(node);
    else blobs.push(node.descriptor);
  }
  const children = childrenFirst(nodes)
    .filter((node) => node.descriptor.digest !== top.descriptor.digest)
    .map((node) => ({ descriptor: node.descriptor, bytes: node.bytes! }));
  return { top, children, blobs };
}

/**
 * Each referrer by digest, after its subject. A registry that answers
 * without an OCI-Subject header has no referrers API: the referrers are
 * then listed in the fallback tag of their subject, one update per subject.
 */
async function pushReferrers(client: RegistryClient, repository: string, referrers: Array<{ subject: Digest; graph: Graph }>): Promise<void> {
  const unindexed = new Map<Digest, Descriptor[]>();
  for (const { subject, graph } of referrers) {
    for (const child of graph.children) await client.putManifest(repository, child.descriptor.digest, child.bytes, child.descriptor.mediaType);
    const answer = await client.putManifest(repository, graph.top.descriptor.digest, graph.top.bytes, graph.top.descriptor.mediaType);
    if (answer.subject === undefined) unindexed.set(subject, [...(unindexed.get(subject) ?? []), referrerDescriptor(graph.top)]);
  }
  for (const [subject, descriptors] of unindexed) await addToReferrersTag(client, repository, subject, descriptors);
}

/** Images the store holds under cosign's tags for digest (`sha256-<hex>.sig`, `.att`, `.sbom`), one per tag. */
async function cosignTagged(store: Store, digest: Digest): Promise<Array<{ tag: string; descriptor: Descriptor }>> {
  const wanted = new Set(['sig', 'att', 'sbom'].map((suffix) => `${referrersTag(digest)}.${suffix}`));
  const found = new Map<string, Descriptor>();
  for (const image of await store.listImages()) if (image.ref.tag !== undefined && wanted.has(image.ref.tag) && !found.has(image.ref.tag)) found.set(image.ref.tag, withoutNameAnnotations(image.descriptor));
  return [...found].map(([tag, descriptor]) => ({ tag, descriptor }));
}

/**
 * One whole blob transfer, retried as one: is it there (HEAD), else one
 * mount attempt from a repository known to hold it (a refused mount answers
 * with an open upload, which the bytes then go to), else the upload, which
 * after a failure goes on from where the registry says it got to.
 */
async function pushBlob(client: RegistryClient, store: Store, destination: ImageReference, blob: Descriptor, locations: BlobLocations, options: PushOptions): Promise<void> {
  const { registry, repository } = destination;
  const emit = options.onEvent ?? (() => undefined);
  const from = locations.repositories(registry, blob.digest).find((candidate) => candidate !== repository);
  const upload = new BlobUpload(client, store, repository, blob, {
    ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
    onProgress: (done) => emit({ type: 'progress', digest: blob.digest, size: blob.size, done }),
    onResume: (offset, restarted) => emit({ type: 'resume', digest: blob.digest, offset, restarted }),
  });
  let mountTried = false;
  const status = await client.withRetries(async (): Promise<'exists' | 'mounted' | 'pushed'> => {
    // After an interrupted upload, the request that failed may have completed it, with only its answer lost.
    if (await client.blobExists(repository, blob.digest, true)) return upload.started ? 'pushed' : 'exists';
    if (from !== undefined && !mountTried) {
      const location = await client.mountBlob(repository, blob.digest, from);
      mountTried = true;
      if (!location) return 'mounted';
      upload.openedAt(location);
    }
    await upload.send();
    return 'pushed';
  });
  emit({ type: 'blob', digest: blob.digest, size: blob.size, status, ...(status === 'mounted' ? { from } : {}) });
}

/** The store's one resolver; no platform is chosen, so an index lacking this machine's platform is pushed whole. */
async function findEntry(store: Store, source: string): Promise<Descriptor> {
  const found = await findImage(store, source);
  return found.manifestDescriptor ?? found.descriptor;
}

async function readDocument(store: Store, descriptor: Descriptor): Promise<Document> {
  if (!isManifestMediaType(descriptor.mediaType) && !isIndexMediaType(descriptor.mediaType)) {
    throw new UsageError(`cannot push ${descriptor.digest}: media type ${descriptor.mediaType} is not an image manifest or index`);
  }
  return { descriptor, bytes: await store.readBlob(descriptor.digest, descriptor.size) };
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
