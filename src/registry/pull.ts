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
import { InvalidInputError, UsageError } from '../errors.js';
import { choosePlatform, hostPlatform } from '../oci/platform.js';
import { familiarName, type ImageReference } from '../oci/reference.js';
import { isIndexMediaType, isManifestMediaType, layerCompression, type Descriptor, type Digest, type ImageConfig, type Manifest, type Platform } from '../oci/types.js';
import { LayerInspector } from '../layers/inspect.js';
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

    const parsedManifests = manifests.map((manifest) => {
      const at = `${where(source)}@${manifest.descriptor.digest}`;
      return { manifest: parseManifest(parseJson(manifest.bytes.toString('utf8'), at), at), at };
    });
    const emit = options.onEvent ?? (() => undefined);
    const concurrency = options.concurrency ?? 3;
    // Configs first (they are small): they say what each layer must decompress to before it may be stored.
    const configs = new Map(parsedManifests.map(({ manifest }) => [manifest.config.digest, manifest.config]));
    await forEachLimited([...configs.values()], concurrency, (config) => pullBlob(client, store, repository, config, emit));
    const layers = new Map<Digest, { descriptor: Descriptor; diffId: Digest | undefined }>();
    for (const { manifest, at } of parsedManifests) {
      const diffIds = await expectedDiffIds(store, manifest, at);
      manifest.layers.forEach((descriptor, i) => layers.set(descriptor.digest, { descriptor, diffId: diffIds?.[i] }));
    }
    await forEachLimited([...layers.values()], concurrency, ({ descriptor, diffId }) => pullBlob(client, store, repository, descriptor, emit, diffId));

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
  return choosePlatform(children, platform, (child) => child.platform, familiarName(source), { hint: 'choose one with --platform or take all with --all-platforms' });
}

/**
 * The diff_ids a manifest's layers must decompress to, from its config (in
 * the store by now); undefined when no layer is a tar (an attestation).
 */
async function expectedDiffIds(store: Store, manifest: Manifest, at: string): Promise<Digest[] | undefined> {
  if (manifest.layers.every((layer) => layerCompression(layer.mediaType) === undefined)) return undefined;
  const diffIds = (await store.readJson<Partial<ImageConfig>>(manifest.config.digest, manifest.config.size)).rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new InvalidInputError(`${at}: config ${manifest.config.digest}`, `${Array.isArray(diffIds) ? diffIds.length : 'no'} rootfs.diff_ids for the manifest's ${manifest.layers.length} layers`);
  }
  return diffIds;
}

/**
 * Streams one blob into the store unless it is there; a dropped connection
 * starts it again (bounded retries). A layer (a tar media type) is checked on
 * the way as docker pull does: it must decompress to diffId and be a tar whose
 * names stay inside the root, or it never gets its name in the store, where
 * later pulls trust it.
 */
async function pullBlob(client: RegistryClient, store: Store, repository: string, blob: Descriptor, emit: (event: TransferEvent) => void, diffId?: Digest): Promise<void> {
  if (await store.hasBlob(blob.digest)) {
    emit({ type: 'blob', digest: blob.digest, size: blob.size, status: 'exists' });
    return;
  }
  const what = `fetching blob ${blob.digest}`;
  await client.withRetries(async () => {
    const body = await client.getBlob(repository, blob.digest);
    const writer = store.createBlobWriter();
    const at = `${client.registry}/${repository}@${blob.digest}`;
    const compression = layerCompression(blob.mediaType);
    const inspector = compression === undefined ? undefined : new LayerInspector(compression, at);
    try {
      const guard = new SizeGuard(blob, at, (done) => emit({ type: 'progress', digest: blob.digest, size: blob.size, done }));
      await (inspector ? pipeline(body, guard, inspector.tap, writer) : pipeline(body, guard, writer));
      await writer.commit({ digest: blob.digest, size: blob.size }, async () => {
        if (!inspector) return;
        await inspector.done;
        const facts = inspector.facts(blob.digest);
        if (diffId !== undefined && facts.diffId !== diffId) throw new InvalidInputError(at, `diff_id ${facts.diffId} does not match the config's ${diffId}`);
        if (facts.notALayer) throw facts.notALayer;
      });
    } catch (err) {
      inspector?.abort();
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

