/**
 * The one copy of an image from a source to a destination
 * (oci/image-ends.ts), whatever the media: the documents by the one walk
 * (oci/walk.ts; a platform chosen at each index level, or every child),
 * the configs (small: they say what each layer must decompress to), the
 * blobs the destination lacks, each one retried transfer checked as it
 * flows (engine/verified-blob.ts), a layer recompressed on the way when
 * asked or when the destination cannot hold it (engine/convert.ts: the
 * manifests above it rewritten), the referrers by the one closure, the
 * policy hook before any name (beforeNames), then the documents children
 * first and the names last. A failure aborts the destination, which then
 * holds nothing new under a name.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { detectCompression, type Compression } from '../compress/index.js';
import { InvalidInputError, NotFoundError, printable } from '../errors.js';
import { documentCaps, readCapped } from '../io/metadata.js';
import { discard } from '../io/streams.js';
import { Spool } from '../io/temp.js';
import { verifiedBytes } from '../oci/digest.js';
import type { DestinationNames, Document, ImageDestination, ImageSource, LayerConversion, LayerPlace, MovedImage, TransferEvent } from '../oci/image-ends.js';
import { readLayerAs } from '../oci/layer-media.js';
import { choosePlatform, hostPlatform, platformChoice } from '../oci/platform.js';
import { familiarName, type ImageReference } from '../oci/reference.js';
import { referrerClosure, referrerDescriptor } from '../oci/referrer-closure.js';
import { isIndexMediaType, isManifestMediaType, layerCompression, MediaType, type Descriptor, type Digest, type Manifest, type Platform } from '../oci/types.js';
import { parseImageConfig, parseJson, parseManifest } from '../oci/validate.js';
import { childrenFirst, walkImage, type GraphNode } from '../oci/walk.js';
import type { BeforeNames } from '../store/staged.js';
import { count } from '../text.js';
import { conversionOf, convertLayer, rewriteDocuments, type ConversionRule } from './convert.js';
import { checkLayer, verifiedBlob, type BlobChecks, type ExpectedDiffId } from './verified-blob.js';

/**
 * What a user asks of a move of images, whichever command makes it (load,
 * save, pull, push, copy): each command's options extend it, and it reaches
 * the one copy of each image as it is, untranslated.
 */
export interface MoveOptions {
  /**
   * The one platform rule: from an index, this platform's manifest at each
   * level, and the manifest is what gets the names; with allPlatforms, the
   * index with every manifest and index under it (nested ones to
   * maxIndexDepth); with neither, this machine's platform from a source
   * that defaults to it (a registry), else the index whole.
   */
  platform?: Platform;
  allPlatforms?: boolean;
  /** false (--no-referrers): the images alone, without their referrers. */
  referrers?: boolean;
  /**
   * The layers' compression at the destination (default: as they are, unless
   * the destination cannot hold them). A rewritten layer changes the
   * manifests above it, and their referrers, which name the old digests, stay
   * behind with a warning.
   */
  conversion?: ConversionRule;
  /** After every blob is in and checked, before any name (a trust policy: --require-signed). */
  beforeNames?: BeforeNames;
  /** Blobs copied at once (default 3, as docker). */
  concurrency?: number;
  /** Everything a move tells as it goes: blobs, progress, conversions, retries, warnings and notices. */
  onEvent?: (event: TransferEvent) => void;
}

/** The one copy's options for one image: the move's, and the image's names. */
export interface CopyImageOptions extends MoveOptions {
  /** How the image is named in messages (its reference at the source). */
  name: string;
  /** The copy in a refusal ("push HOST/ns/app:1"); default "copy NAME". */
  what?: string;
  /** The names the image takes at the destination (none: kept by digest). */
  tags: ImageReference[];
}

export async function copyImage(source: ImageSource, top: Descriptor, destination: ImageDestination, options: CopyImageOptions): Promise<MovedImage> {
  const emit = options.onEvent ?? (() => undefined);
  const at = (digest: Digest): string => blobWhere(source, digest);
  const small = new Map<Digest, Buffer>();
  const { platform } = platformChoice(options.platform, options.allPlatforms);
  const chosen = platform ?? (!options.allPlatforms && source.defaultsToHostPlatform ? hostPlatform() : undefined);
  const spool = new Spool(tmpdir(), '.rootfs-convert');
  try {
    const documents = await readGraph(source, top, options.name, chosen, destination.takesPartialIndexes === true);
    const manifests = documents.flatMap(({ document, manifest }) => (manifest ? [{ document, manifest }] : []));
    if (manifests.length === 0) throw new InvalidInputError(at(top.digest), 'an index with no image manifest under it');
    // Without a platform choice an index is kept whole; with one, the chosen manifest is the image.
    const named = chosen !== undefined && isIndexMediaType(top.mediaType) ? manifests[0]!.document : documents[documents.length - 1]!.document;
    const kept = chosen !== undefined ? manifests.map(({ document }) => document) : documents.map(({ document }) => document);
    await checkHeld(source, manifests, options.name, options.what ?? `copy ${options.name}`);

    const blobs = { source, destination, emit, small, concurrency: options.concurrency ?? 3 };
    const configs = new Map<Digest, Buffer | undefined>();
    for (const { manifest } of manifests) if (!configs.has(manifest.config.digest)) configs.set(manifest.config.digest, await copyConfig(blobs, manifest));
    const layers = new Map<Digest, { descriptor: Descriptor; diffId: ExpectedDiffId | undefined; docker: boolean; place: LayerPlace }>();
    for (const { document, manifest } of manifests) {
      const diffIds = expectedDiffIds(document.descriptor, manifest, configs.get(manifest.config.digest), at(document.descriptor.digest));
      const docker = document.descriptor.mediaType === MediaType.DockerManifest;
      manifest.layers.forEach((descriptor, position) => {
        const diffId = diffIds && { digest: diffIds[position]!, position, config: manifest.config.digest };
        if (!layers.has(descriptor.digest)) layers.set(descriptor.digest, { descriptor, diffId, docker, place: { position } });
      });
    }
    const rule = options.conversion ?? { compression: 'keep' };
    const converting = rule.compression !== 'keep' || (destination.cannotHold?.length ?? 0) > 0;
    // One conversion at a time: each compressor already uses every core.
    const oneConversion = pLimit(1);
    const replaced = new Map<Digest, Descriptor>();
    await forEachLimited([...layers.values()], blobs.concurrency, async ({ descriptor, diffId, docker, place }) => {
      const conversion = converting ? await conversionFor(blobs, descriptor, rule, destination.cannotHold) : undefined;
      if (!conversion) return copyBlob(blobs, descriptor, diffId, place);
      replaced.set(descriptor.digest, await oneConversion(() => convertBlob(blobs, conversion, { diffId, level: rule.level, docker, spool, place })));
    });
    // A rewritten layer changes the manifest that names it and every index above; the configs, and so the image IDs, stay.
    const rewritten = rewriteDocuments(documents, replaced);
    const now = (document: Document): Document => rewritten.get(document.descriptor.digest) ?? document;
    const image = now(named);
    const copied = kept.map(now);

    const subjects = (chosen !== undefined ? [named] : kept).map((document) => document.descriptor.digest);
    const referrers = options.referrers !== false ? await referrersOf(blobs, subjects, rewritten) : [];
    // Children before what names them, the referrers after their subjects: the order the destination takes them in.
    const allDocuments = [...copied, ...referrers.map(({ document }) => document)];
    for (const document of allDocuments) small.set(document.descriptor.digest, document.bytes);
    const referrerNames = referrers.map(({ subject, descriptor }) => ({ subject, descriptor }));

    const id = isIndexMediaType(image.descriptor.mediaType) ? image.descriptor.digest : manifests[0]!.manifest.config.digest;
    await options.beforeNames?.({
      images: [{ tags: options.tags.map(familiarName), id, descriptor: image.descriptor }],
      referrers: referrerNames,
      readBlob: (digest) => readSmall(blobs, digest),
    });
    for (const document of allDocuments) await destination.putDocument(document);
    const names: DestinationNames = { image: { descriptor: image.descriptor, tags: options.tags }, referrers: referrerNames };
    await destination.commit(names);
    return { tags: options.tags.map(familiarName), id, descriptor: image.descriptor, referrers: referrers.length };
  } catch (err) {
    await destination.abort();
    throw err;
  } finally {
    await spool.remove();
  }
}

/** How a message names a blob of the source: as the source names it (a store: its file), else WHERE@DIGEST. */
function blobWhere(source: ImageSource, digest: Digest): string {
  return source.blobWhere?.(digest) ?? `${source.where}@${digest}`;
}

/** What copying one blob needs: both ends, whom to tell, the small blobs held for beforeNames. */
interface BlobContext {
  source: ImageSource;
  destination: ImageDestination;
  emit: (event: TransferEvent) => void;
  small: Map<Digest, Buffer>;
  concurrency: number;
}

/**
 * The documents under top by the one walk, each read once and held to its
 * descriptor, each after the ones it names (the order a registry and a
 * store take them in), with the manifests parsed. With a platform, the one
 * chosen at each level of an index; without, every manifest and index.
 */
async function readGraph(source: ImageSource, top: Descriptor, name: string, platform: Platform | undefined, partial: boolean): Promise<Array<{ document: Document; manifest?: Manifest }>> {
  const read = new Map<Digest, Buffer>();
  const where = (descriptor: Descriptor): string => blobWhere(source, descriptor.digest);
  const walk = walkImage([top], {
    async read(descriptor) {
      const bytes = await source.readDocument(descriptor);
      if (bytes.length !== descriptor.size) throw new InvalidInputError(where(descriptor), `size ${bytes.length} does not match the size ${descriptor.size} its descriptor gives`);
      read.set(descriptor.digest, verifiedBytes(bytes, descriptor.digest, where(descriptor)));
      return bytes;
    },
    where,
    async children(node, all) {
      if (node.document?.kind !== 'index') return [];
      const documents = all.filter((child) => isManifestMediaType(child.mediaType) || isIndexMediaType(child.mediaType));
      if (platform === undefined) {
        // Kept whole, an index must not name what is not copied with it: a registry refuses it, a store could not show it.
        const other = all.find((child) => !documents.includes(child));
        if (other) throw new InvalidInputError(where(node.descriptor), `its entry ${other.digest} (${printable(other.mediaType).slice(0, 200)}) is not an image manifest or index`);
        if (!partial || !source.holds) return documents;
        // Platforms never pulled stay listed, as in the index they came in, where the destination may list them too.
        const held: Descriptor[] = [];
        for (const child of documents) if (await source.holds(child)) held.push(child);
        return held;
      }
      return [choosePlatform(documents, platform, (child) => child.platform, name, { hint: 'choose one with --platform or take all with --all-platforms' })];
    },
  });
  const nodes: GraphNode[] = [];
  for await (const node of walk) {
    if (node.depth === 0 && !isManifestMediaType(node.descriptor.mediaType) && !isIndexMediaType(node.descriptor.mediaType)) {
      throw new InvalidInputError(where(node.descriptor), `media type ${printable(node.descriptor.mediaType || '(none)').slice(0, 200)} is not an OCI or Docker schema 2 manifest or index (Docker schema 1 images are not supported)`);
    }
    nodes.push(node);
  }
  return childrenFirst(nodes).map((node) => ({ document: { descriptor: node.descriptor, bytes: read.get(node.descriptor.digest)! }, ...(node.document?.kind === 'manifest' ? { manifest: node.document.manifest } : {}) }));
}

/** A source that can say (the store, an archive) is asked for every blob before anything is sent: a missing layer leaves no upload behind. */
async function checkHeld(source: ImageSource, manifests: Array<{ document: Document; manifest: Manifest }>, image: string, what: string): Promise<void> {
  if (!source.holds) return;
  for (const { document, manifest } of manifests) {
    const config = (await source.holds(manifest.config)) ? undefined : manifest.config.digest;
    const layers: Digest[] = [];
    for (const layer of manifest.layers) if (!(await source.holds(layer))) layers.push(layer.digest);
    if (config === undefined && layers.length === 0) continue;
    throw source.notHeld?.(document.descriptor, { config, layers }, image) ?? new NotFoundError(`cannot ${what}: blob ${config ?? layers[0]} is not in ${source.sender} ${source.where}`);
  }
}

function hasTarLayers(manifest: Manifest): boolean {
  return manifest.layers.some((layer) => layerCompression(layer.mediaType) !== undefined);
}

/**
 * The diff_ids a manifest's layers must decompress to, from its config;
 * undefined when no layer is a tar (an artifact's blobs travel as they are).
 * An image's layers are all layers: a media type among them that is no
 * layer type we know is refused, not carried unread.
 */
function expectedDiffIds(descriptor: Descriptor, manifest: Manifest, config: Buffer | undefined, where: string): Digest[] | undefined {
  if (isImage(descriptor, manifest)) {
    const foreign = manifest.layers.findIndex((layer) => layerCompression(layer.mediaType) === undefined);
    if (foreign >= 0) throw new InvalidInputError(`${where}: layers[${foreign}]`, `unsupported layer media type ${JSON.stringify(printable(manifest.layers[foreign]!.mediaType).slice(0, 200))}`);
  }
  if (!hasTarLayers(manifest)) return undefined;
  const configWhere = `${where}: config ${manifest.config.digest}`;
  if (!config) throw new InvalidInputError(configWhere, `${manifest.config.size} bytes is too large for an image config (at most ${documentCaps.image})`);
  // They go into messages and comparisons: whatever else the source put there is refused here.
  const diffIds = parseImageConfig(parseJson(config.toString('utf8'), configWhere), configWhere).rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) throw new InvalidInputError(configWhere, `${diffIds.length} rootfs.diff_ids for the manifest's ${count(manifest.layers.length, 'layer')}`);
  return diffIds;
}

/**
 * A manifest of a container image, as opposed to an artifact (an
 * artifactType, a subject, a config that is no image config) or one of
 * BuildKit's attestations beside the platforms of an index (its "layers"
 * are in-toto JSON).
 */
function isImage(descriptor: Descriptor, manifest: Manifest): boolean {
  const config = manifest.config.mediaType === MediaType.ImageConfig || manifest.config.mediaType === MediaType.DockerConfig;
  return config && manifest.artifactType === undefined && manifest.subject === undefined && descriptor.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest';
}

/**
 * An image's config, read into memory and checked, then put; undefined for
 * a config too large to be one, which only an artifact (no tar layers) may
 * have: that goes as any other blob.
 */
async function copyConfig(context: BlobContext, manifest: Manifest): Promise<Buffer | undefined> {
  const { source, destination, emit } = context;
  const config = manifest.config;
  if (config.size > documentCaps.image) {
    if (hasTarLayers(manifest)) return undefined;
    await copyBlob(context, config);
    return undefined;
  }
  const where = blobWhere(source, config.digest);
  const bytes = await readBounded(source, config, `${source.sender} sent more than the descriptor's size ${config.size}`);
  if (bytes.length !== config.size) throw new InvalidInputError(where, `size ${bytes.length} does not match the expected size ${config.size}`);
  context.small.set(config.digest, verifiedBytes(bytes, config.digest, where));
  emit({ type: 'blob', digest: config.digest, size: config.size, ...(await destination.putSmallBlob(config, bytes)) });
  return bytes;
}

/**
 * One blob the destination lacks, as one transfer retried whole by the
 * source (a registry reads it again; the destination resumes or starts
 * again as it can), checked as it flows; a layer (a tar media type) must
 * decompress to diffId and be a tar inside the root, read as its bytes say.
 */
async function copyBlob(context: BlobContext, blob: Descriptor, diffId?: ExpectedDiffId, place?: LayerPlace): Promise<void> {
  const { source, destination, emit } = context;
  const checks = checksOf(context, blob, diffId);
  const inspected = checkInspected(source, blob, checks);
  if (await destination.has(blob, place)) {
    // Held already, but under this manifest a layer must still be what its config says: checked where it lies.
    const held = checks.inspectLayer && !inspected ? await destination.openHeld?.(blob) : undefined;
    const { onProgress: _notSent, ...local } = checks;
    if (held) await pipeline(await verifiedBlob(held, blob, local), discard());
    emit({ type: 'blob', digest: blob.digest, size: blob.size, status: 'exists' });
    return;
  }
  const arrival = await source.retry(blob, () => destination.putBlob(blob, async () => verifiedBlob(await source.openBlob(blob), blob, checks), checks.onProgress, place));
  emit({ type: 'blob', digest: blob.digest, size: blob.size, ...arrival });
}

/**
 * A blob the source read whole as it took it in (an archive): held to this
 * manifest and config by what was learnt then, without reading it again.
 * False for one the source knows nothing of.
 */
function checkInspected(source: ImageSource, blob: Descriptor, checks: BlobChecks): boolean {
  const inspected = source.inspected?.(blob.digest);
  if (!inspected) return false;
  if (inspected.size !== blob.size) throw new InvalidInputError(checks.where, `size ${inspected.size} does not match the size ${blob.size} its descriptor gives`);
  if (layerCompression(blob.mediaType) !== undefined) checkLayer(blob, inspected, checks);
  return true;
}

/** How a blob from the source is checked as it flows, and whom it tells. */
function checksOf({ source, emit }: BlobContext, blob: Descriptor, diffId: ExpectedDiffId | undefined): BlobChecks & { onProgress: (done: number) => void } {
  return {
    where: blobWhere(source, blob.digest),
    sender: source.sender,
    inspectLayer: !source.layersChecked,
    ...(diffId !== undefined ? { diffId } : {}),
    onProgress: (done: number) => emit({ type: 'progress', digest: blob.digest, size: blob.size, done }),
    onNotice: (message: string) => emit({ type: 'notice', message }),
  };
}

/**
 * Whether a layer changes on the way, by a look at its first bytes: what
 * they are decides, not the label (a label they contradict is said here for
 * a source whose layers the copy does not inspect again as they flow).
 */
async function conversionFor(context: BlobContext, layer: Descriptor, rule: ConversionRule, cannotHold: readonly Compression[] | undefined): Promise<LayerConversion | undefined> {
  if (layerCompression(layer.mediaType) === undefined) return undefined;
  const { source, emit } = context;
  const from = await source.retry(layer, async () => {
    const { compression, stream } = await detectCompression(await source.openBlob(layer));
    stream.destroy();
    return compression;
  });
  const { warning } = readLayerAs(layer, from);
  if (warning !== undefined && source.layersChecked) emit({ type: 'notice', message: warning });
  return conversionOf(layer, from, rule, cannotHold);
}

/**
 * A layer rewritten into a spool file from its bytes checked as they are
 * read (one transfer, retried whole), then put as any blob, checked again as
 * it is read back; returns the layer as the destination now holds it.
 */
async function convertBlob(context: BlobContext, conversion: LayerConversion, how: { diffId: ExpectedDiffId | undefined; level: number | undefined; docker: boolean; spool: Spool; place: LayerPlace }): Promise<Descriptor> {
  const { source, destination, emit } = context;
  const { layer } = conversion;
  emit({ type: 'convert', conversion });
  checkInspected(source, layer, checksOf(context, layer, how.diffId));
  const path = destination.spoolPath ? await destination.spoolPath() : await how.spool.path();
  try {
    const converted = await source.retry(layer, async () => {
      await rm(path, { force: true });
      return convertLayer(await verifiedBlob(await source.openBlob(layer), layer, checksOf(context, layer, how.diffId)), conversion, how.level, how.docker, path);
    });
    if (await destination.has(converted, how.place)) {
      emit({ type: 'blob', digest: converted.digest, size: converted.size, status: 'exists' });
      return converted;
    }
    const onProgress = (done: number): void => emit({ type: 'progress', digest: converted.digest, size: converted.size, done });
    const written = { where: path, sender: 'the conversion', inspectLayer: false, onProgress };
    // In the destination's own spool the file is moved in as it is; from ours it is read back, checked, as any blob.
    const arrival = destination.putSpooled && destination.spoolPath ? await destination.putSpooled(converted, path) : await destination.putBlob(converted, async () => verifiedBlob(createReadStream(path), converted, written), onProgress, how.place);
    emit({ type: 'blob', digest: converted.digest, size: converted.size, ...arrival });
    return converted;
  } finally {
    await rm(path, { force: true });
  }
}


/**
 * The referrers that go with the image. A referrer names its subject's
 * digest: those of a document a conversion rewrote, and all where the
 * destination has no place for them, stay behind, counted by the same
 * closure and said once.
 */
async function referrersOf(context: BlobContext, subjects: Digest[], rewritten: Map<Digest, Document>): Promise<CopiedReferrer[]> {
  const refused = context.destination.refusesReferrers;
  const referrers = await copyReferrers(context, refused === undefined ? subjects.filter((digest) => !rewritten.has(digest)) : [], true);
  const left = (await copyReferrers(context, refused !== undefined ? subjects : subjects.filter((digest) => rewritten.has(digest)), false)).length;
  const why = refused ?? "their subject's digest changed when its layers were recompressed";
  if (left > 0) context.emit({ type: 'warning', message: `${count(left, 'referrer')} left out: ${why}` });
  return referrers;
}

interface CopiedReferrer {
  subject: Digest;
  document: Document;
  /** As a referrers index lists it: with its artifactType and annotations. */
  descriptor: Descriptor;
}

/**
 * The referrers of subjects and theirs (a signature of an SBOM), by the one
 * closure and its bounds (oci/referrer-closure.ts), each manifest read by
 * digest and taken only if it names its subject (a listing is anyone's to
 * write), its blobs copied with the image's (with copy false, only
 * found: those a copy leaves behind, counted). Referrers that are indexes
 * are not copied.
 */
async function copyReferrers(context: BlobContext, subjects: Digest[], copy: boolean): Promise<CopiedReferrer[]> {
  const { source, emit } = context;
  if (subjects.length === 0) return [];
  const warn = (message: string): void => emit({ type: 'warning', message });
  const taken = new Map<Digest, Document>();
  const found = await referrerClosure(subjects, {
    where: source.where,
    referrersOf: async (subject) => (await source.referrersOf(subject)).filter((listed) => isManifestMediaType(listed.mediaType)),
    digestOf: (listed) => listed.digest,
    async take(listed, subject) {
      const at = blobWhere(source, listed.digest);
      if (listed.size > documentCaps.image) throw new InvalidInputError(at, `${listed.size} bytes is too large for an image manifest (at most ${documentCaps.image})`);
      const bytes = verifiedBytes(await source.readDocument(listed), listed.digest, at);
      const manifest = parseManifest(parseJson(bytes.toString('utf8'), at), at);
      if (manifest.subject?.digest !== subject) return false;
      // Counted, not copied: the referrers a copy leaves behind, read as it would read them.
      for (const blob of copy ? [manifest.config, ...manifest.layers] : []) {
        if (blob === manifest.config && blob.size <= documentCaps.image) await copyConfig(context, manifest);
        else await copyBlob(context, blob);
      }
      taken.set(listed.digest, { descriptor: { mediaType: listed.mediaType, digest: listed.digest, size: bytes.length }, bytes });
      return true;
    },
    onWarning: warn,
  });
  return found.map(({ subject, referrer }) => {
    const document = taken.get(referrer.digest)!;
    return { subject, document, descriptor: referrerDescriptor(document) };
  });
}

/** A small blob for beforeNames: one this copy holds in memory (configs, documents), else the destination's, else the source's. */
async function readSmall(context: BlobContext, digest: Digest): Promise<Buffer> {
  const bytes = context.small.get(digest);
  if (bytes) {
    if (bytes.length > documentCaps.image) throw new InvalidInputError(blobWhere(context.source, digest), `larger than ${documentCaps.image} bytes: not a small document (a signature, an SBOM manifest, a config)`);
    return bytes;
  }
  if (context.destination.readSmall) return context.destination.readSmall(digest);
  // A destination that cannot be read back (an archive being written): the source again, bounded and checked.
  const { source } = context;
  const where = blobWhere(source, digest);
  const blob: Descriptor = { mediaType: 'application/octet-stream', digest, size: documentCaps.image };
  const body = await readBounded(source, blob, `larger than ${documentCaps.image} bytes: not a small document (a signature, an SBOM manifest, a config)`);
  return verifiedBytes(body, digest, where);
}

/** A small blob read whole from the source, one retried transfer, never more than blob.size bytes (tooLarge: what is wrong when it has more). */
async function readBounded(source: ImageSource, blob: Descriptor, tooLarge: string): Promise<Buffer> {
  return source.retry(blob, async () => {
    try {
      return await readCapped(await source.openBlob(blob), 'image', blob.size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_RESPONSE_TOO_LARGE') throw new InvalidInputError(blobWhere(source, blob.digest), tooLarge);
      throw err;
    }
  });
}

/** Runs fn for every item, `concurrency` at a time; after a failure no new one starts, and it rejects once the running ones have settled. */
export async function forEachLimited<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(concurrency);
  let failing = false;
  const guarded = async (item: T): Promise<void> => {
    if (failing) return;
    try {
      await fn(item);
    } catch (err) {
      failing = true;
      throw err;
    }
  };
  const results = await Promise.allSettled(items.map((item) => limit(() => guarded(item))));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}
