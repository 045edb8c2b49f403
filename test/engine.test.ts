// tier: unit
/**
 * The one copy (engine/copy.ts) between two ends held in memory: what it
 * guarantees whatever the media are. A blob that does not match never
 * reaches a clean end at the destination; any failure aborts the
 * destination before a name; what the destination holds is not sent again
 * but a layer it holds is still checked against the new config; names come
 * last, after every document, children first; the platform rule; a
 * layer recompressed on the way, its manifest and index rewritten.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { copyImage } from '../src/engine/copy.js';
import { sha256 } from '../src/oci/digest.js';
import type { BlobArrival, DestinationNames, Document, ImageDestination, ImageSource, TransferEvent } from '../src/oci/image-ends.js';
import { hostPlatform } from '../src/oci/platform.js';
import { parseReference } from '../src/oci/reference.js';
import { MediaType, type Descriptor, type Digest, type Platform } from '../src/oci/types.js';
import { layerOfTar, layerTar, makeImage, type FixtureImage } from './fixtures.js';

/** A source over blobs in memory; `tamper` changes what a blob's stream carries. */
class MemorySource implements ImageSource {
  readonly where = 'memory';
  readonly sender = 'the source';
  readonly layersChecked = false;
  readonly defaultsToHostPlatform: boolean;
  readonly opened: Digest[] = [];

  constructor(private readonly blobs: Map<Digest, Buffer>, private readonly options: { tamper?: Map<Digest, Buffer>; referrers?: Map<Digest, Descriptor[]>; hostDefault?: boolean } = {}) {
    this.defaultsToHostPlatform = options.hostDefault ?? false;
  }

  async readDocument(descriptor: Descriptor): Promise<Buffer> {
    return this.bytes(descriptor.digest);
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    this.opened.push(descriptor.digest);
    const bytes = this.options.tamper?.get(descriptor.digest) ?? this.bytes(descriptor.digest);
    // In small chunks, so that a check at the end is really at the end of a stream.
    return Readable.from(Array.from({ length: Math.ceil(bytes.length / 512) }, (_, i) => bytes.subarray(i * 512, (i + 1) * 512)));
  }

  async referrersOf(subject: Digest): Promise<Descriptor[]> {
    return this.options.referrers?.get(subject) ?? [];
  }

  retry<T>(_blob: Descriptor, transfer: () => Promise<T>): Promise<T> {
    return transfer();
  }

  close(): void {}

  private bytes(digest: Digest): Buffer {
    const bytes = this.blobs.get(digest);
    if (!bytes) throw new Error(`no blob ${digest}`);
    return bytes;
  }
}

/** A destination that records, in order, what happened to it; a blob counts as kept only when its stream ended cleanly. */
class MemoryDestination implements ImageDestination {
  readonly where = 'memory destination';
  readonly kept = new Map<Digest, Buffer>();
  readonly log: string[] = [];

  constructor(private readonly held: Map<Digest, Buffer> = new Map()) {}

  async has(descriptor: Descriptor): Promise<boolean> {
    return this.held.has(descriptor.digest) || this.kept.has(descriptor.digest);
  }

  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>): Promise<BlobArrival> {
    const bytes = await buffer(await open());
    this.kept.set(descriptor.digest, bytes);
    this.log.push(`blob ${descriptor.digest}`);
    return { status: 'pulled' };
  }

  async putSmallBlob(descriptor: Descriptor, bytes: Buffer): Promise<BlobArrival> {
    this.kept.set(descriptor.digest, bytes);
    this.log.push(`blob ${descriptor.digest}`);
    return { status: 'pulled' };
  }

  async openHeld(descriptor: Descriptor): Promise<Readable | undefined> {
    const bytes = this.held.get(descriptor.digest);
    return bytes ? Readable.from([bytes]) : undefined;
  }

  readonly documents = new Map<Digest, Buffer>();

  async putDocument(document: Document): Promise<void> {
    this.documents.set(document.descriptor.digest, document.bytes);
    this.log.push(`document ${document.descriptor.digest}`);
  }

  async commit(names: DestinationNames): Promise<void> {
    this.log.push(`names ${names.image.descriptor.digest} ${names.image.tags.length}`);
  }

  async abort(): Promise<void> {
    this.log.push('abort');
  }
}

function blobsOf(...images: FixtureImage[]): Map<Digest, Buffer> {
  const blobs = new Map<Digest, Buffer>();
  for (const image of images) {
    blobs.set(image.manifestDescriptor.digest, image.manifest);
    blobs.set(image.configDigest, image.config);
    for (const layer of image.layers) blobs.set(layer.descriptor.digest, layer.blob);
  }
  return blobs;
}

const options = { name: 'memory/app:1', tags: [parseReference('app:1')], referrers: true };

test('a copy puts every blob, then the documents, then the names, and says how each blob went', async () => {
  const image = makeImage([layerOfTar(layerTar({ 'etc/a': 'a\n' }), 'gzip'), layerOfTar(layerTar({ 'etc/b': 'b\n' }))]);
  const destination = new MemoryDestination();
  const events: TransferEvent[] = [];
  const copied = await copyImage(new MemorySource(blobsOf(image)), image.manifestDescriptor, destination, { ...options, onEvent: (event) => events.push(event) });
  assert.equal(copied.descriptor.digest, image.manifestDescriptor.digest);
  assert.equal(copied.id, image.configDigest);
  assert.deepEqual(destination.log.slice(-2), [`document ${image.manifestDescriptor.digest}`, `names ${image.manifestDescriptor.digest} 1`]);
  assert.deepEqual(new Set(destination.log.slice(0, 3)), new Set([image.configDigest, ...image.layers.map((layer) => layer.descriptor.digest)].map((digest) => `blob ${digest}`)));
  for (const layer of image.layers) assert.deepEqual(destination.kept.get(layer.descriptor.digest), layer.blob);
  assert.equal(events.filter((event) => event.type === 'blob').length, 3);
});

test('a blob whose bytes do not match fails its stream before it ends: nothing kept under its digest, the destination aborted, no names', async () => {
  const layer = layerOfTar(layerTar({ 'etc/a': 'a\n' }), 'gzip');
  const image = makeImage([layer]);
  const other = layerOfTar(layerTar({ 'etc/a': 'other\n' }), 'gzip').blob;
  const cases: Array<[string, Buffer, RegExp]> = [
    ['different bytes', Buffer.concat([other, Buffer.alloc(Math.max(0, layer.blob.length - other.length))]).subarray(0, layer.blob.length), /digest|diff_id|does not match/],
    ['one byte short', layer.blob.subarray(1), /size \d+ does not match the expected size/],
    ['one byte more', Buffer.concat([layer.blob, Buffer.from('x')]), /the source sent more than the descriptor's size/],
  ];
  for (const [what, bytes, message] of cases) {
    const destination = new MemoryDestination();
    await assert.rejects(copyImage(new MemorySource(blobsOf(image), { tamper: new Map([[layer.descriptor.digest, bytes]]) }), image.manifestDescriptor, destination, options), message, what);
    assert.equal(destination.kept.has(layer.descriptor.digest), false, what);
    assert.equal(destination.log.at(-1), 'abort', what);
    assert.ok(!destination.log.some((line) => line.startsWith('names')), what);
  }
});

test('a layer that decompresses to another diff_id than its config says, or holds a name outside the root, is refused', async () => {
  const layer = layerOfTar(layerTar({ 'etc/a': 'a\n' }), 'gzip');
  const lying = makeImage([layer], { diffIds: [sha256('something else')] });
  await assert.rejects(copyImage(new MemorySource(blobsOf(lying)), lying.manifestDescriptor, new MemoryDestination(), options), /diff_id sha256:[a-f0-9]{64} does not match rootfs\.diff_ids\[0\] sha256:[a-f0-9]{64} of config /);
  const escaping = layerOfTar(layerTar({ '../etc/passwd': 'x\n' }), 'gzip');
  const hostile = makeImage([escaping]);
  await assert.rejects(copyImage(new MemorySource(blobsOf(hostile)), hostile.manifestDescriptor, new MemoryDestination(), options), /\.\./);
});

test('what the destination holds is not sent again, but a held layer is checked where it lies against the new config', async () => {
  const layer = layerOfTar(layerTar({ 'etc/a': 'a\n' }), 'gzip');
  const image = makeImage([layer]);
  const source = new MemorySource(blobsOf(image));
  await copyImage(source, image.manifestDescriptor, new MemoryDestination(new Map([[layer.descriptor.digest, layer.blob]])), options);
  assert.ok(!source.opened.includes(layer.descriptor.digest), 'the held layer was not read from the source');
  const lying = makeImage([layer], { diffIds: [sha256('something else')] });
  const destination = new MemoryDestination(new Map([[layer.descriptor.digest, layer.blob]]));
  await assert.rejects(copyImage(new MemorySource(blobsOf(lying)), lying.manifestDescriptor, destination, options), /diff_id .* does not match rootfs\.diff_ids\[0\] sha256:[a-f0-9]{64} of config /);
  assert.equal(destination.log.at(-1), 'abort');
});

test('a policy refusal before the names leaves none: beforeNames sees the image, reads its config, and aborts the copy', async () => {
  const image = makeImage([layerOfTar(layerTar({ 'etc/a': 'a\n' }))]);
  const destination = new MemoryDestination();
  let seen: Buffer | undefined;
  await assert.rejects(
    copyImage(new MemorySource(blobsOf(image)), image.manifestDescriptor, destination, {
      ...options,
      async beforeNames(staged) {
        assert.deepEqual(staged.images.map((one) => one.id), [image.configDigest]);
        seen = await staged.readBlob(image.configDigest);
        throw new Error('refused by policy');
      },
    }),
    /refused by policy/,
  );
  assert.deepEqual(seen, image.config);
  assert.ok(!destination.log.some((line) => line.startsWith('names') || line.startsWith('document')));
  assert.equal(destination.log.at(-1), 'abort');
});

test('the platform rule: a source that defaults to this machine gives its manifest; otherwise, or with allPlatforms, the index whole, children first', async () => {
  const here = hostPlatform();
  const elsewhere: Platform = { os: 'linux', architecture: here.architecture === 'arm64' ? 'amd64' : 'arm64' };
  const ours = makeImage([layerOfTar(layerTar({ 'etc/a': 'here\n' }))], { platform: here });
  const theirs = makeImage([layerOfTar(layerTar({ 'etc/a': 'there\n' }))], { platform: elsewhere });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [theirs.manifestDescriptor, ours.manifestDescriptor] }));
  const top: Descriptor = { mediaType: MediaType.ImageIndex, digest: sha256(index), size: index.length };
  const blobs = blobsOf(ours, theirs).set(top.digest, index);

  const one = await copyImage(new MemorySource(blobs, { hostDefault: true }), top, new MemoryDestination(), options);
  assert.equal(one.descriptor.digest, ours.manifestDescriptor.digest);
  const whole = new MemoryDestination();
  assert.equal((await copyImage(new MemorySource(blobs), top, whole, options)).descriptor.digest, top.digest);
  const documents = whole.log.filter((line) => line.startsWith('document'));
  assert.equal(documents.at(-1), `document ${top.digest}`, 'the index after the manifests it names');
  assert.equal(documents.length, 3);
  assert.equal((await copyImage(new MemorySource(blobs, { hostDefault: true }), top, new MemoryDestination(), { ...options, allPlatforms: true })).descriptor.digest, top.digest);
  const chosen = await copyImage(new MemorySource(blobs, { hostDefault: true }), top, new MemoryDestination(), { ...options, platform: elsewhere });
  assert.equal(chosen.descriptor.digest, theirs.manifestDescriptor.digest);
  await assert.rejects(copyImage(new MemorySource(blobs), top, new MemoryDestination(), { ...options, platform: here, allPlatforms: true }), /give one/);
});

test('referrers come with their subject, each taken only if it names it, and get their names with the image', async () => {
  const image = makeImage([layerOfTar(layerTar({ 'etc/a': 'a\n' }))]);
  const empty = Buffer.from('{}');
  const signatureOf = (subject: Descriptor): { bytes: Buffer; descriptor: Descriptor } => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, artifactType: 'application/example', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }, layers: [], subject }));
    return { bytes, descriptor: { mediaType: MediaType.ImageManifest, digest: sha256(bytes), size: bytes.length } };
  };
  const real = signatureOf(image.manifestDescriptor);
  const stray = signatureOf({ ...image.manifestDescriptor, digest: sha256('another image') });
  const blobs = blobsOf(image).set(real.descriptor.digest, real.bytes).set(stray.descriptor.digest, stray.bytes).set(sha256(empty), empty);
  const destination = new MemoryDestination();
  const names: DestinationNames[] = [];
  destination.commit = async (given) => void names.push(given);
  const copied = await copyImage(new MemorySource(blobs, { referrers: new Map([[image.manifestDescriptor.digest, [real.descriptor, stray.descriptor]]]) }), image.manifestDescriptor, destination, options);
  assert.equal(copied.referrers, 1);
  assert.deepEqual(names[0]!.referrers.map(({ subject, descriptor }) => [subject, descriptor.digest, descriptor.artifactType]), [[image.manifestDescriptor.digest, real.descriptor.digest, 'application/example']]);
  assert.equal((await copyImage(new MemorySource(blobs, { referrers: new Map([[image.manifestDescriptor.digest, [real.descriptor]]]) }), image.manifestDescriptor, new MemoryDestination(), { ...options, referrers: false })).referrers, 0);
});

test('a conversion rewrites each layer from what its bytes are, then the manifests and the index above it; the config stays, referrers of the old digests stay behind, said', async () => {
  const here = hostPlatform();
  const tar = layerTar({ 'etc/a': 'a\n' });
  // Plain bytes labelled gzip (what Docker 20.10 pushes): read as what they are.
  const mislabelled = layerOfTar(tar, 'none', { mediaType: MediaType.LayerTarGzip });
  const zstd = layerOfTar(layerTar({ 'etc/b': 'b\n' }), 'zstd');
  const image = makeImage([mislabelled, zstd], { platform: here });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [image.manifestDescriptor] }));
  const top: Descriptor = { mediaType: MediaType.ImageIndex, digest: sha256(index), size: index.length };
  const signature = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 }, layers: [], subject: image.manifestDescriptor }));
  const signed: Descriptor = { mediaType: MediaType.ImageManifest, digest: sha256(signature), size: signature.length };
  const blobs = blobsOf(image).set(top.digest, index).set(signed.digest, signature).set(sha256('{}'), Buffer.from('{}'));
  const destination = new MemoryDestination();
  const events: TransferEvent[] = [];
  const copied = await copyImage(new MemorySource(blobs, { referrers: new Map([[image.manifestDescriptor.digest, [signed]]]) }), top, destination, { ...options, conversion: { compression: 'gzip', level: 1 }, onEvent: (event) => events.push(event) });

  assert.notEqual(copied.descriptor.digest, top.digest, 'the index names a new manifest');
  assert.equal(copied.id, copied.descriptor.digest);
  const newIndex = JSON.parse(destination.documents.get(copied.descriptor.digest)!.toString()) as { manifests: Descriptor[] };
  assert.deepEqual(newIndex.manifests[0]!.platform, here, 'the index entry keeps its platform');
  const manifest = JSON.parse(destination.documents.get(newIndex.manifests[0]!.digest)!.toString()) as { config: Descriptor; layers: Descriptor[] };
  assert.equal(manifest.config.digest, image.configDigest, 'the config, and so the image ID, is unchanged');
  assert.deepEqual(manifest.layers.map((layer) => layer.mediaType), [MediaType.LayerTarGzip, MediaType.LayerTarGzip]);
  assert.deepEqual(gunzipSync(destination.kept.get(manifest.layers[0]!.digest)!), tar, 'the mislabelled layer converted from what its bytes are');
  assert.equal(sha256(gunzipSync(destination.kept.get(manifest.layers[1]!.digest)!)), zstd.diffId, 'the zstd layer holds the same tar');
  assert.ok(!destination.kept.has(mislabelled.descriptor.digest) && !destination.kept.has(zstd.descriptor.digest), 'the old layers are not put');
  assert.deepEqual(events.flatMap((event) => (event.type === 'convert' ? [[event.conversion.from, event.conversion.to]] : [])).sort(), [['none', 'gzip'], ['zstd', 'gzip']]);
  assert.equal(copied.referrers, 0);
  assert.ok(events.some((event) => event.type === 'warning' && /1 referrer left out: their subject's digest changed/.test(event.message)));

  // A destination that cannot hold zstd gets it uncompressed without being asked; the rest travel as they are.
  const docker = new MemoryDestination();
  Object.assign(docker, { cannotHold: ['zstd'] });
  const kept = await copyImage(new MemorySource(blobs), image.manifestDescriptor, docker, options);
  const keptManifest = JSON.parse(docker.documents.get(kept.descriptor.digest)!.toString()) as { layers: Descriptor[] };
  assert.deepEqual(keptManifest.layers[0], mislabelled.descriptor, 'keep: the mislabelled layer byte for byte under its label');
  assert.equal(keptManifest.layers[1]!.mediaType, MediaType.LayerTar);
  assert.equal(sha256(docker.kept.get(keptManifest.layers[1]!.digest)!), zstd.diffId);
});
