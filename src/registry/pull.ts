/**
 * Pulling an image into the store: the manifest (or index: one platform's
 * manifest, or with allPlatforms every manifest and the index itself), each
 * blob the store lacks streamed into a BlobWriter and committed only when its
 * digest and size match the manifest, then the documents, the tag last.
 * Documents are stored byte for byte as the registry sent them (Docker
 * schema 2 media types included), since their digests cover those bytes.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidInputError, NotFoundError, UsageError } from '../errors.js';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.js';
import { familiarName, type ImageReference } from '../oci/reference.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type Digest, type Platform } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { parseIndex, parseJson, parseManifest } from '../store/validate.js';
import type { RegistryClient } from './client.js';
import { connect, forEachLimited, type Document, type TransferEvent, type TransferOptions } from './transfer.js';

export interface PullOptions extends TransferOptions {
  /** From an index, the manifest for this platform (default: this machine's). */
  platform?: Platform;
  /** Keep the whole index and pull every platform's manifest. */
  allPlatforms?: boolean;
  /**
   * When neither target nor source has a tag (a pull by digest alone), keep
   * the image without a name (a nameless index.json entry, which gc keeps, as
   * `load` does for an untagged archive image) instead of refusing.
   */
  untagged?: boolean;
}

export interface PullResult {
  /** The name it is stored under, as docker shows it. */
  reference: string;
  /** What the name now points at: the manifest, or the index with allPlatforms. */
  descriptor: Descriptor;
}

/** Pulls `source` (a full reference with a tag or digest) and tags it in the store as `target` (default: source's name). */
export async function pullImage(store: Store, source: ImageReference, target: ImageReference | undefined, options: PullOptions = {}): Promise<PullResult> {
  const name = target ?? source;
  const untagged = options.untagged === true && target === undefined && source.tag === undefined;
  if (!untagged && (name.tag === undefined || name.digest !== undefined)) throw new UsageError(`cannot store the pulled image as ${familiarName(name)}: give a name with a tag (rootfs pull SOURCE NAME:TAG)`);
  const { registry, repository } = source;
  const client = await connect(registry, options);
  try {
    const top = await fetchDocument(client, repository, source.digest ?? source.tag!);
    const isIndex = isIndexMediaType(top.descriptor.mediaType);
    const keepIndex = isIndex && options.allPlatforms === true;
    const manifests: Document[] = [];
    if (isIndex) {
      const children = parseIndex(parseJson(top.bytes.toString('utf8'), where(source)), where(source)).manifests.filter((child) => isManifestMediaType(child.mediaType));
      for (const child of keepIndex ? children : [pickPlatform(children, options.platform ?? hostPlatform(), source)]) manifests.push(await fetchDocument(client, repository, child.digest));
    } else {
      manifests.push(top);
    }
    const tagged = keepIndex || !isIndex ? top : manifests[0]!;

    const blobs = new Map<Digest, Descriptor>();
    for (const manifest of manifests) {
      const parsed = parseManifest(parseJson(manifest.bytes.toString('utf8'), `${where(source)}@${manifest.descriptor.digest}`), `${where(source)}@${manifest.descriptor.digest}`);
      for (const blob of [parsed.config, ...parsed.layers]) blobs.set(blob.digest, blob);
    }
    const emit = options.onEvent ?? (() => undefined);
    await forEachLimited([...blobs.values()], options.concurrency ?? 3, (blob) => pullBlob(client, store, repository, blob, emit));

    // Children before the index that names them, as everywhere in the store.
    for (const document of keepIndex ? [...manifests, top] : manifests) await store.putBlob(document.bytes);
    if (untagged) {
      await store.updateIndex((index) => {
        if (!index.manifests.some((entry) => entry.digest === tagged.descriptor.digest)) index.manifests.push(tagged.descriptor);
      });
    } else {
      await store.tag(name, tagged.descriptor);
    }
    return { reference: familiarName(name), descriptor: tagged.descriptor };
  } finally {
    client.close();
  }
}

function where(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

async function fetchDocument(client: RegistryClient, repository: string, reference: string): Promise<Document> {
  const { bytes, mediaType, digest } = await client.withRetries(() => client.getManifest(repository, reference));
  if (!isManifestMediaType(mediaType) && !isIndexMediaType(mediaType)) {
    throw new InvalidInputError(`${client.registry}/${repository}:${reference}`, `media type ${mediaType || '(none)'} is not an OCI or Docker schema 2 manifest or index (Docker schema 1 images are not supported)`);
  }
  return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
}

function pickPlatform(children: Descriptor[], platform: Platform, source: ImageReference): Descriptor {
  const chosen = children.find((child) => platformMatches(platform, child.platform)) ?? (children.length === 1 && !children[0]!.platform ? children[0] : undefined);
  if (!chosen) {
    const offered = children.map((child) => (child.platform ? formatPlatform(child.platform) : '?')).join(', ');
    throw new NotFoundError(`${familiarName(source)}: no manifest for platform ${formatPlatform(platform)} (the index has ${offered || 'none'}); choose one with --platform or take all with --all-platforms`);
  }
  return chosen;
}

/** Streams one blob into the store unless it is there; a dropped connection starts it again (bounded retries). */
async function pullBlob(client: RegistryClient, store: Store, repository: string, blob: Descriptor, emit: (event: TransferEvent) => void): Promise<void> {
  if (await store.hasBlob(blob.digest)) {
    emit({ type: 'blob', digest: blob.digest, size: blob.size, status: 'exists' });
    return;
  }
  const what = `fetching blob ${blob.digest}`;
  await client.withRetries(async () => {
    const body = await client.getBlob(repository, blob.digest);
    const writer = store.createBlobWriter();
    try {
      await pipeline(body, new SizeGuard(blob, `${client.registry}/${repository}@${blob.digest}`, (done) => emit({ type: 'progress', digest: blob.digest, size: blob.size, done })), writer);
      await writer.commit({ digest: blob.digest, size: blob.size });
    } catch (err) {
      await writer.abort();
      throw client.failure(repository, what, err);
    }
  });
  emit({ type: 'blob', digest: blob.digest, size: blob.size, status: 'pulled' });
}

/** Counts bytes for progress, and stops a registry that sends more than the descriptor's size before it fills the disk. */
class SizeGuard extends Transform {
  private done = 0;

  constructor(private readonly blob: Descriptor, private readonly where: string, private readonly onProgress: (done: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.done += chunk.length;
    if (this.done > this.blob.size) {
      callback(new InvalidInputError(this.where, `the registry sent more than the descriptor's size ${this.blob.size}`));
      return;
    }
    this.onProgress(this.done);
    callback(null, chunk);
  }
}

