/**
 * Pulling an image into the store: the manifest (or index: one platform's
 * manifest, or with allPlatforms every manifest and index under it and the
 * index itself, nested indexes followed to maxIndexDepth), the
 * configs (small, kept in memory: they say what each layer must decompress
 * to), then each layer streamed into a BlobWriter and checked against its
 * manifest (digest, size, diff_id, a tar that stays inside the root). A
 * layer the store already holds is checked the same way. Like load, nothing
 * takes a name in the store until every blob of the image has been checked:
 * new blobs wait in the store's tmp (which gc leaves alone while this
 * command holds the store's in-use lock), then they are committed, then
 * the documents, the tag last.
 * Documents are stored byte for byte as the registry sent them (Docker
 * schema 2 media types included), since their digests cover those bytes.
 */
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { count } from '../text.js';
import { pipeline } from 'node:stream/promises';
import { detectCompression } from '../compress/index.js';
import { DigestMismatchError, InvalidInputError, printable, UsageError } from '../errors.js';
import { documentCaps, readCapped } from '../io/metadata.js';
import { discard } from '../io/streams.js';
import { DigestStream, sha256 } from '../oci/digest.js';
import { choosePlatform, hostPlatform, platformChoice } from '../oci/platform.js';
import { familiarName, type ImageReference } from '../oci/reference.js';
import { isIndexMediaType, isManifestMediaType, layerCompression, type Descriptor, type Digest, type Manifest, type Platform } from '../oci/types.js';
import { LayerInspector } from '../layers/inspect.js';
import { readLayerAs } from '../oci/layer-media.js';
import type { Store } from '../store/store.js';
import { parseImageConfig, parseJson, parseManifest } from '../oci/validate.js';
import { childrenFirst, walkImage, type GraphNode } from '../oci/walk.js';
import type { RegistryClient } from './client.js';
import { listReferrers, referrerDescriptor } from './referrers.js';
import { referrerClosure } from '../oci/referrer-closure.js';
import { StagingArea, type BeforeNames } from '../store/staged.js';
import { connect, forEachLimited, type Document, type TransferEvent, type TransferOptions } from './transfer.js';

export interface PullOptions extends TransferOptions {
  /**
   * From an index, the manifest for this platform. The one platform rule of
   * every registry → store path (pull, load -i docker://, copy docker://):
   * this machine's unless platform or allPlatforms says otherwise, as skopeo
   * copy and docker pull do.
   */
  platform?: Platform;
  /** Keep the whole index and pull every platform's manifest (not with platform). */
  allPlatforms?: boolean;
  /**
   * When neither target nor source has a tag (a pull by digest alone), keep
   * the image without a name (a nameless index.json entry, which gc keeps, as
   * `load` does for an untagged archive image) instead of refusing.
   */
  untagged?: boolean;
  /** false (--no-referrers): the image alone, without its referrers (signatures, SBOMs). */
  referrers?: boolean;
  /** After every blob is verified, before any is committed or named (trust policies: --require-signed). */
  beforeNames?: BeforeNames;
}

export interface PullResult {
  /** The name it is stored under, as docker shows it. */
  reference: string;
  /** What the name now points at: the manifest, or the index with allPlatforms. */
  descriptor: Descriptor;
  /** Referrers pulled and recorded with it (store.addReferrer). */
  referrers: number;
}

/** Pulls `source` (a full reference with a tag or digest) and tags it in the store as `target` (default: source's name). */
export async function pullImage(store: Store, source: ImageReference, target: ImageReference | undefined, options: PullOptions = {}): Promise<PullResult> {
  const name = target ?? source;
  const untagged = options.untagged === true && target === undefined && source.tag === undefined;
  // For its refusal of both: an API caller gets it as the CLI does.
  platformChoice(options.platform, options.allPlatforms);
  if (!untagged && (name.tag === undefined || name.digest !== undefined)) throw new UsageError(`cannot store the pulled image as ${familiarName(name)}: give a name with a tag (rootfs pull SOURCE NAME:TAG)`);
  const { registry, repository } = source;
  const client = await connect(registry, options);
  const staging = new StagingArea(store);
  try {
    const top = await fetchDocument(client, repository, source.digest ?? source.tag!);
    const isIndex = isIndexMediaType(top.descriptor.mediaType);
    const keepIndex = isIndex && options.allPlatforms === true;
    const documents = await fetchGraph(client, source, top, keepIndex ? undefined : (options.platform ?? hostPlatform()));
    const parsedManifests = documents.flatMap(({ document, manifest }) => (manifest ? [{ manifest, at: `${where(source)}@${document.descriptor.digest}` }] : []));
    const manifests = documents.filter(({ manifest }) => manifest !== undefined).map(({ document }) => document);
    // Without allPlatforms an index is not kept: the platform's manifest is what gets the name.
    const kept = keepIndex ? documents.map(({ document }) => document) : manifests;
    const tagged = keepIndex || !isIndex ? top : manifests[0]!;

    const emit = options.onEvent ?? (() => undefined);
    const concurrency = options.concurrency ?? 3;
    const blobs = { client, store, repository, emit, staging };
    // Configs first: they say what each layer must decompress to before it may be stored.
    const configs = new Map<Digest, Buffer | undefined>();
    for (const { manifest } of parsedManifests) {
      if (configs.has(manifest.config.digest)) continue;
      configs.set(manifest.config.digest, await pullConfig(blobs, manifest.config, hasTarLayers(manifest)));
    }
    const layers = new Map<Digest, { descriptor: Descriptor; diffId: Digest | undefined }>();
    for (const { manifest, at } of parsedManifests) {
      const diffIds = expectedDiffIds(manifest, configs.get(manifest.config.digest), at);
      manifest.layers.forEach((descriptor, i) => layers.set(descriptor.digest, { descriptor, diffId: diffIds?.[i] }));
    }
    await forEachLimited([...layers.values()], concurrency, ({ descriptor, diffId }) => pullBlob(blobs, descriptor, diffId));
    const subjects = keepIndex ? kept.map((document) => document.descriptor.digest) : [tagged.descriptor.digest];
    const referrers = options.referrers === false ? [] : await pullReferrers(blobs, subjects);

    // The documents wait with the blobs, in the order they are stored: configs, then children before what names them.
    for (const [digest, bytes] of configs) if (bytes) staging.keepDocument(digest, bytes);
    for (const document of [...kept, ...referrers.map((referrer) => referrer.document)]) staging.keepDocument(document.descriptor.digest, document.bytes);
    await options.beforeNames?.({
      images: [{ tags: untagged ? [] : [familiarName(name)], id: keepIndex ? top.descriptor.digest : parsedManifests[0]!.manifest.config.digest, descriptor: tagged.descriptor }],
      referrers: referrers.map(({ subject, descriptor }) => ({ subject, descriptor })),
      readBlob: (digest) => staging.readSmall(digest),
    });
    // Every blob has been checked: now they take their names, the documents after them, the tag and the referrers last.
    const referrerNames = referrers.map(({ descriptor, subject }) => ({ descriptor, subject }));
    await staging.commit(untagged ? { untagged: [tagged.descriptor], referrers: referrerNames } : { tags: [{ ref: name, descriptor: tagged.descriptor }], referrers: referrerNames });
    return { reference: familiarName(name), descriptor: tagged.descriptor, referrers: referrers.length };
  } finally {
    await staging.abort();
    client.close();
  }
}

/** What pulling one blob needs: where from, where to, whom to tell, and the blobs waiting for the image to be complete. */
interface BlobContext {
  client: RegistryClient;
  store: Store;
  repository: string;
  emit: (event: TransferEvent) => void;
  staging: StagingArea;
}

interface PulledReferrer {
  subject: Digest;
  document: Document;
  /** As a referrers index lists it: with its artifactType and annotations. */
  descriptor: Descriptor;
}

/**
 * The referrers of subjects and theirs (a signature of an SBOM), from the
 * referrers API or the fallback tag, by the one closure and its bounds
 * (oci/referrer-closure.ts), each manifest fetched by digest and its blobs
 * staged with the image's. The fallback tag is anyone's to write: a
 * manifest listed there that does not name the subject is not its
 * referrer, and is not taken. Referrers that are indexes are not pulled.
 */
async function pullReferrers(context: BlobContext, subjects: Digest[]): Promise<PulledReferrer[]> {
  const { client, repository } = context;
  const warn = (message: string): void => context.emit({ type: 'warning', message });
  const fetched = new Map<Digest, Document>();
  const found = await referrerClosure(subjects, {
    where: `${client.registry}/${repository}`,
    referrersOf: async (subject) => (await listReferrers(client, repository, subject, warn)).filter((listed) => isManifestMediaType(listed.mediaType)),
    digestOf: (listed) => listed.digest,
    async take(listed, subject) {
      const document = await fetchDocument(client, repository, listed.digest);
      const at = `${client.registry}/${repository}@${listed.digest}`;
      const manifest = parseManifest(parseJson(document.bytes.toString('utf8'), at), at);
      if (manifest.subject?.digest !== subject) return false;
      for (const blob of [manifest.config, ...manifest.layers]) await pullBlob(context, blob);
      fetched.set(listed.digest, document);
      return true;
    },
    onWarning: warn,
  });
  return found.map(({ subject, referrer }) => {
    const document = fetched.get(referrer.digest)!;
    return { subject, document, descriptor: referrerDescriptor(document) };
  });
}

function where(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

async function fetchDocument(client: RegistryClient, repository: string, reference: string): Promise<Document> {
  const { bytes, mediaType, digest } = await client.getManifest(repository, reference);
  if (!isManifestMediaType(mediaType) && !isIndexMediaType(mediaType)) {
    throw new InvalidInputError(`${client.registry}/${repository}:${reference}`, `media type ${printable(mediaType || '(none)').slice(0, 200)} is not an OCI or Docker schema 2 manifest or index (Docker schema 1 images are not supported)`);
  }
  return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
}

/**
 * The documents under top by the one walk (oci/walk.ts): with a platform,
 * the one chosen at each level of an index; without, every manifest and
 * index, nested ones followed to maxIndexDepth. Each document comes after
 * the ones it names, the order the store takes them in. A manifest's blobs
 * are not walked: they are pulled apart, checked against its config.
 */
async function fetchGraph(client: RegistryClient, source: ImageReference, top: Document, platform: Platform | undefined): Promise<Array<{ document: Document; manifest?: Manifest }>> {
  const fetched = new Map<Digest, Document>([[top.descriptor.digest, top]]);
  const at = (descriptor: Descriptor): string => `${where(source)}@${descriptor.digest}`;
  const walk = walkImage([top.descriptor], {
    async read(descriptor) {
      const document = fetched.get(descriptor.digest) ?? (await fetchDocument(client, source.repository, descriptor.digest));
      if (document.bytes.length !== descriptor.size) throw new InvalidInputError(at(descriptor), `size ${document.bytes.length} does not match the size ${descriptor.size} its index gives`);
      fetched.set(descriptor.digest, document);
      return document.bytes;
    },
    where: at,
    children(node, all) {
      if (node.document?.kind !== 'index') return [];
      const usable = all.filter((child) => isManifestMediaType(child.mediaType) || isIndexMediaType(child.mediaType));
      if (!platform) return usable;
      return [choosePlatform(usable, platform, (child) => child.platform, familiarName(source), { hint: 'choose one with --platform or take all with --all-platforms' })];
    },
  });
  const nodes: GraphNode[] = [];
  for await (const node of walk) nodes.push(node);
  return childrenFirst(nodes).map((node) => ({ document: fetched.get(node.descriptor.digest)!, ...(node.document?.kind === 'manifest' ? { manifest: node.document.manifest } : {}) }));
}

function hasTarLayers(manifest: Manifest): boolean {
  return manifest.layers.some((layer) => layerCompression(layer.mediaType) !== undefined);
}

/** The diff_ids a manifest's layers must decompress to, from its config; undefined when no layer is a tar (an attestation). */
function expectedDiffIds(manifest: Manifest, config: Buffer | undefined, at: string): Digest[] | undefined {
  if (!hasTarLayers(manifest)) return undefined;
  const where = `${at}: config ${manifest.config.digest}`;
  if (!config) throw new InvalidInputError(where, `${manifest.config.size} bytes is too large for an image config (at most ${documentCaps.image})`);
  // They go into messages and comparisons: whatever else the registry put there is refused here.
  const diffIds = parseImageConfig(parseJson(config.toString('utf8'), where), where).rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) throw new InvalidInputError(where, `${diffIds.length} rootfs.diff_ids for the manifest's ${count(manifest.layers.length, 'layer')}`);
  return diffIds;
}

/**
 * An image's config, in memory once checked (from the store if it is there);
 * undefined for a config too large to be one, which only an artifact (no
 * tar layers) may have: that is pulled as any other blob.
 */
async function pullConfig(context: BlobContext, config: Descriptor, image: boolean): Promise<Buffer | undefined> {
  const { client, store, repository, emit } = context;
  if (config.size > documentCaps.image) {
    if (!image) await pullBlob(context, config);
    return undefined;
  }
  if (await store.hasBlob(config.digest)) {
    const bytes = await store.readBlob(config.digest, config.size);
    emit({ type: 'blob', digest: config.digest, size: config.size, status: 'exists' });
    return bytes;
  }
  const at = `${client.registry}/${repository}@${config.digest}`;
  const bytes = await transferBlob(context, config, async (body) => {
    try {
      return await readCapped(body, 'image', config.size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_RESPONSE_TOO_LARGE') throw new InvalidInputError(at, `the registry sent more than the descriptor's size ${config.size}`);
      throw client.failure(repository, `fetching blob ${config.digest}`, err);
    }
  });
  if (bytes.length !== config.size) throw new InvalidInputError(at, `size ${bytes.length} does not match the expected size ${config.size}`);
  const digest = sha256(bytes);
  if (digest !== config.digest) throw new DigestMismatchError(at, config.digest, digest);
  emit({ type: 'blob', digest: config.digest, size: config.size, status: 'pulled' });
  return bytes;
}

/**
 * Streams one blob into a staged BlobWriter, or checks the store's copy; a
 * dropped connection starts it again (bounded retries). A layer (a tar
 * media type) is checked on the way as docker pull does: it must decompress
 * to diffId and be a tar whose names stay inside the root, or it never gets
 * its name in the store, where later pulls trust it. It is read as its bytes
 * say (oci/layer-media.ts), the same whether the store had the blob or not.
 */
async function pullBlob(context: BlobContext, blob: Descriptor, diffId?: Digest): Promise<void> {
  const { client, store, repository, emit, staging } = context;
  // A blob two manifests share (the empty config of artifacts) is fetched once.
  if (staging.has(blob.digest)) return;
  const at = `${client.registry}/${repository}@${blob.digest}`;
  const labelled = layerCompression(blob.mediaType);
  /**
   * Streams input through stages into output; a layer is inspected on the
   * way and must pass, after `copied` has checked the bytes themselves (a
   * digest mismatch, the root cause, is what gets reported).
   */
  const check = async (input: Readable, stages: Transform[], output: Writable, copied: () => void = () => {}): Promise<void> => {
    if (labelled === undefined) {
      await pipeline([input, ...stages, output]);
      copied();
      return;
    }
    const { compression, stream } = await detectCompression(input);
    const inspector = new LayerInspector(compression, at);
    try {
      await pipeline([stream, ...stages, inspector.tap, output]);
      copied();
      await inspector.done;
    } catch (err) {
      inspector.abort();
      throw err;
    }
    const facts = inspector.facts(blob.digest);
    if (diffId !== undefined && facts.diffId !== diffId) throw new InvalidInputError(at, `diff_id ${facts.diffId} does not match the config's ${diffId}`);
    if (facts.notALayer) throw facts.notALayer;
    const { warning } = readLayerAs(blob, compression);
    if (warning !== undefined) emit({ type: 'notice', message: warning });
  };

  if (await store.hasBlob(blob.digest)) {
    if (labelled !== undefined) await check(store.openBlob(blob.digest, blob.size), [], discard());
    emit({ type: 'blob', digest: blob.digest, size: blob.size, status: 'exists' });
    return;
  }
  const what = `fetching blob ${blob.digest}`;
  await transferBlob(context, blob, async (body) => {
    const writer = staging.createWriter();
    try {
      const counted = new DigestStream();
      const guard = new SizeGuard(blob, at, (done) => emit({ type: 'progress', digest: blob.digest, size: blob.size, done }));
      await check(body, [guard, counted], writer, () => {
        if (counted.size !== blob.size) throw new InvalidInputError(at, `size ${counted.size} does not match the expected size ${blob.size}`);
        if (counted.digest !== blob.digest) throw new DigestMismatchError(at, blob.digest, counted.digest);
      });
    } catch (err) {
      await writer.abort();
      throw client.failure(repository, what, err);
    }
    await staging.keep(blob.digest, writer);
  });
  emit({ type: 'blob', digest: blob.digest, size: blob.size, status: 'pulled' });
}

/** One whole blob transfer, retried as one (client.withRetries): the request, and receive's reading, checking and keeping of the bytes. */
async function transferBlob<T>(context: BlobContext, blob: Descriptor, receive: (body: Readable) => Promise<T>): Promise<T> {
  const { client, repository } = context;
  return client.withRetries(async () => receive(await client.getBlob(repository, blob.digest)));
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

