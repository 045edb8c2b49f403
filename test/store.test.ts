// tier: unit
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { DigestMismatchError, InvalidInputError, NotFoundError, UsageError } from '../src/errors.js';
import { sha256 } from '../src/oci/digest.js';
import { parseReference } from '../src/oci/reference.js';
import { Annotation, MediaType, type Descriptor } from '../src/oci/types.js';
import { Store, defaultStoreDir } from '../src/store/store.js';
import { atEnd, makeTempDir } from './helpers.js';
import { findImage, resolveImage } from '../src/store/resolve.js';
import { buildAttestedImage, buildImage, buildMultiPlatformImage, makeImage, putImage } from './fixtures.js';

async function openTemp(t: import('node:test').TestContext): Promise<{ store: Store; work: string }> {
  const work = makeTempDir(t);
  const store = await Store.open(join(work, 'store'));
  atEnd(t, () => store.close());
  return { store, work };
}

function tempFiles(store: Store): string[] {
  return readdirSync(join(store.dir, '.rootfs', 'tmp'));
}

test('defaultStoreDir: $ROOTFS_STORE first, then /var/lib/rootfs for root, else XDG data home', () => {
  assert.equal(defaultStoreDir({ ROOTFS_STORE: '/srv/images' }), '/srv/images');
  const fallback = defaultStoreDir({ XDG_DATA_HOME: '/home/u/.data', HOME: '/home/u' });
  assert.equal(fallback, process.getuid?.() === 0 ? '/var/lib/rootfs' : '/home/u/.data/rootfs');
});

test('open creates an OCI layout; reopening validates it; foreign or broken directories are refused', async (t) => {
  const { store, work } = await openTemp(t);
  assert.deepEqual(JSON.parse(readFileSync(join(store.dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  assert.deepEqual((await store.readIndex()).manifests, []);
  assert.ok(statSync(join(store.dir, 'blobs', 'sha256')).isDirectory());
  const again = await Store.open(store.dir);
  await again.close();

  await assert.rejects(Store.open(join(work, 'absent'), { readOnly: true }), NotFoundError);
  const foreign = join(work, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'passwd'), 'root:x:0:0\n');
  await assert.rejects(Store.open(foreign), (err: unknown) => err instanceof InvalidInputError && /not an OCI image layout/.test(err.message));
  assert.deepEqual(readdirSync(foreign), ['passwd'], 'nothing written into a foreign directory');
  const broken = join(work, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'oci-layout'), '{"imageLayoutVersion": 2}');
  await assert.rejects(Store.open(broken), /oci-layout: not an oci-layout file/);
});

test('blob writer: hashes while writing, commits under its digest, dedupes, and verifies what it was promised', async (t) => {
  const { store } = await openTemp(t);
  const data = Buffer.alloc(3 << 20, 'x');
  const digest = sha256(data);

  const writer = store.createBlobWriter();
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), writer);
  assert.deepEqual(await writer.commit({ digest, size: data.length }), { digest, size: data.length });
  assert.ok(readFileSync(store.blobPath(digest)).equals(data));

  const again = store.createBlobWriter();
  await pipeline(Readable.from([data]), again);
  assert.deepEqual(await again.commit(), { digest, size: data.length });
  assert.equal(readdirSync(join(store.dir, 'blobs', 'sha256')).length, 1);

  const wrong = store.createBlobWriter();
  await pipeline(Readable.from([Buffer.from('other')]), wrong);
  await assert.rejects(wrong.commit({ digest }), DigestMismatchError);
  const short = store.createBlobWriter();
  await pipeline(Readable.from([Buffer.from('other')]), short);
  await assert.rejects(short.commit({ digest: sha256('other'), size: 6 }), /size 5 does not match the expected size 6/);
  assert.equal(await store.hasBlob(sha256('other')), false);

  const aborted = store.createBlobWriter();
  await new Promise((resolve) => aborted.write(Buffer.from('partial'), resolve));
  assert.equal(tempFiles(store).length, 1, 'a writer in progress has its temp file in the store');
  await aborted.abort();
  assert.deepEqual(tempFiles(store), [], 'commit failures and abort leave no temp files');
});

test('putBlob/readBlob/readJson round-trip; absent blobs are NotFoundError', async (t) => {
  const { store } = await openTemp(t);
  const { digest, size } = await store.putBlob(Buffer.from('{"a":1}'));
  assert.deepEqual(await store.readJson(digest, size), { a: 1 });
  assert.equal((await store.readBlob(digest)).toString(), '{"a":1}');
  const absent = sha256('absent');
  await assert.rejects(store.readBlob(absent), NotFoundError);
  await assert.rejects(buffer(store.openBlob(absent)), NotFoundError);
  const notJson = await store.putBlob(Buffer.from('{oops'));
  await assert.rejects(store.readJson(notJson.digest), (err: unknown) => err instanceof InvalidInputError && err.message.startsWith(store.blobPath(notJson.digest)) && /malformed JSON/.test(err.message));
  assert.throws(() => store.blobPath('sha256:../../etc/passwd' as never), InvalidInputError);
});

test('a blob damaged on disk fails openBlob at the end of the stream, and readJson', async (t) => {
  const { store } = await openTemp(t);
  const data = Buffer.from(JSON.stringify({ hello: 'world', pad: 'y'.repeat(100_000) }));
  const { digest, size } = await store.putBlob(data);
  const damaged = Buffer.from(data);
  damaged[50_000] ^= 0x01;
  writeFileSync(store.blobPath(digest), damaged);

  let bytesSeen = 0;
  const stream = store.openBlob(digest, size);
  stream.on('data', (chunk: Buffer) => (bytesSeen += chunk.length));
  await assert.rejects(new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject)), (err: unknown) => err instanceof DigestMismatchError && err.message.includes(store.blobPath(digest)));
  assert.equal(bytesSeen, size, 'the data flows; the verdict comes at the end');
  await assert.rejects(store.readJson(digest, size), DigestMismatchError);

  writeFileSync(store.blobPath(digest), data.subarray(0, 10));
  await assert.rejects(store.readBlob(digest, size), /size 10 does not match its descriptor's size/);
  writeFileSync(store.blobPath(digest), Buffer.concat([data, Buffer.from('!')]));
  await assert.rejects(store.readBlob(digest, size), /larger than its descriptor's size/);
});

test('updateIndex: a throwing fn leaves index.json byte-identical; no change, no rewrite; the result is valid JSON', async (t) => {
  const { store, work } = await openTemp(t);
  await buildImage(store, work, { name: 'base:1' });
  const indexPath = join(store.dir, 'index.json');
  const before = readFileSync(indexPath);
  const inode = statSync(indexPath).ino;
  await assert.rejects(
    store.updateIndex((index) => {
      index.manifests = [];
      throw new UsageError('changed my mind');
    }),
    /changed my mind/,
  );
  assert.ok(readFileSync(indexPath).equals(before));
  assert.equal(await store.updateIndex(() => 42), 42);
  assert.equal(statSync(indexPath).ino, inode, 'an unchanged index is not rewritten');
  await assert.rejects(store.updateIndex((index) => void index.manifests.push({ digest: 'nope' } as unknown as Descriptor)), /updated index.json/);
  assert.ok(readFileSync(indexPath).equals(before), 'an invalid result is refused before it is written');
  assert.deepEqual(tempFiles(store), []);
});

test('tag writes both name annotations, replaces the same name, refuses digests and missing blobs; untag removes', async (t) => {
  const { store, work } = await openTemp(t);
  const one = await buildImage(store, work, { content: 'one' });
  const two = await buildImage(store, work, { content: 'two' });
  await store.tag(parseReference('base'), one.manifest);
  await store.tag(parseReference('registry:5000/ns/app:1.0'), one.manifest);
  await store.tag(parseReference('docker.io/library/base:latest'), two.manifest);
  const index = await store.readIndex();
  assert.deepEqual(
    index.manifests.map((entry) => [entry.digest, entry.annotations]),
    [
      [two.manifest.digest, { [Annotation.RefName]: 'base:latest', [Annotation.ContainerdImageName]: 'docker.io/library/base:latest' }],
      [one.manifest.digest, { [Annotation.RefName]: 'registry:5000/ns/app:1.0', [Annotation.ContainerdImageName]: 'registry:5000/ns/app:1.0' }],
    ],
  );
  assert.deepEqual((await store.listImages()).map((image) => image.name), ['base:latest', 'registry:5000/ns/app:1.0']);
  await assert.rejects(store.tag(parseReference(`x@${one.manifest.digest}`), one.manifest), UsageError);
  await assert.rejects(store.tag(parseReference('x'), { ...one.manifest, digest: sha256('missing') }), NotFoundError);

  assert.equal(await store.untag(parseReference('base')), true);
  assert.equal(await store.untag(parseReference('base')), false);
  assert.equal(await store.untag(parseReference(`registry:5000/ns/app@${one.manifest.digest}`)), true);
  assert.deepEqual((await store.readIndex()).manifests, []);
});

test('resolve: by name, image ID (full and short), manifest digest and name@digest; unknown and ambiguous refs', async (t) => {
  const { store, work } = await openTemp(t);
  const image = await buildImage(store, work, { name: 'base:1.0' });
  const check = async (text: string, name?: string): Promise<void> => {
    const resolved = await resolveImage(store, text);
    assert.equal(resolved.manifestDescriptor.digest, image.manifest.digest, text);
    assert.equal(resolved.manifest.config.digest, image.configDigest, text);
    assert.deepEqual(resolved.config.rootfs.diff_ids, [image.diffId], text);
    assert.equal(resolved.name, name, text);
  };
  await check('base:1.0', 'base:1.0');
  await check('docker.io/library/base:1.0', 'base:1.0');
  await check(image.configDigest);
  await check(image.configDigest.slice(7));
  await check(image.configDigest.slice(7, 19));
  await check(image.configDigest.slice(0, 11));
  await check(image.manifest.digest);
  await check(image.manifest.digest.slice(7, 15));
  await check(`base@${image.manifest.digest}`, `base@${image.manifest.digest}`);
  await assert.rejects(resolveImage(store, 'base'), (err: unknown) => err instanceof NotFoundError && err.message === 'no such image: base (did you mean base:1.0?)');
  await assert.rejects(resolveImage(store, '0000'), NotFoundError);
  await assert.rejects(resolveImage(store, 'Bad Name'), UsageError);

  // Two configs whose IDs share the first 4 hex digits: that prefix is ambiguous, a longer one is not.
  const seen = new Map<string, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; !pair; i++) {
    const text = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: i });
    const prefix = sha256(text).slice(7, 11);
    const other = seen.get(prefix);
    if (other) pair = [other, text];
    else seen.set(prefix, text);
  }
  for (const [i, text] of pair.entries()) {
    await putImage(store, makeImage([], { config: Buffer.from(text) }), `twin:${i}`);
  }
  const shared = sha256(pair[0]).slice(7, 11);
  await assert.rejects(resolveImage(store, shared), (err: unknown) => err instanceof UsageError && /ambiguous/.test(err.message));
  assert.equal((await resolveImage(store, sha256(pair[1]).slice(7, 30))).name, undefined);
});

test('resolve picks the platform from a multi-platform index', async (t) => {
  const { store, work } = await openTemp(t);
  const { index: indexDescriptor, arm } = await buildMultiPlatformImage(store, work, 'multi');
  const onArm = await resolveImage(store, 'multi', { os: 'linux', architecture: 'arm64' });
  assert.equal(onArm.manifestDescriptor.digest, arm.manifest.digest);
  assert.equal(onArm.descriptor.digest, indexDescriptor.digest);
  assert.equal((await resolveImage(store, 'multi', { os: 'linux', architecture: 'amd64' })).config.architecture, 'amd64');
  await assert.rejects(resolveImage(store, 'multi', { os: 'linux', architecture: 's390x' }), /no manifest for platform linux\/s390x/);
  assert.equal((await resolveImage(store, arm.configDigest.slice(7, 19))).manifestDescriptor.digest, arm.manifest.digest, 'an ID finds a manifest inside an index');
});

test('gc keeps everything referenced (through indexes and unknown artifact types), removes the rest and temp files', async (t) => {
  const { store, work } = await openTemp(t);
  const kept = await buildImage(store, work, { name: 'kept', content: 'kept' });
  const inIndex = await buildImage(store, work, { content: 'in index' });
  const index = await store.putBlob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [inIndex.manifest] })));
  await store.tag(parseReference('multi'), { mediaType: MediaType.ImageIndex, ...index });
  // An artifact of a media type we do not know, referencing a blob by descriptor: both stay.
  const payload = await store.putBlob(Buffer.from('signature bytes'));
  const artifact = await store.putBlob(Buffer.from(JSON.stringify({ kind: 'x', refs: [{ mediaType: 'application/x-sig', ...payload }] })));
  await store.updateIndex((idx) => void idx.manifests.push({ mediaType: 'application/vnd.example.artifact', ...artifact }));
  // An entry whose blob is absent is allowed by the layout spec and is not an error.
  await store.updateIndex((idx) => void idx.manifests.push({ mediaType: 'application/vnd.example.other', digest: sha256('absent'), size: 6 }));

  const dropped = await buildImage(store, work, { name: 'dropped', content: 'dropped' });
  await store.untag(parseReference('dropped'));
  writeFileSync(join(store.dir, '.rootfs', 'tmp', 'blob-1-stale'), 'left by a killed writer');
  writeFileSync(join(store.dir, 'blobs', 'sha256', 'not-a-digest'), 'not ours to judge');

  const referenced = [kept.manifest.digest, kept.configDigest, kept.layer.digest, inIndex.manifest.digest, inIndex.configDigest, inIndex.layer.digest, index.digest, payload.digest, artifact.digest];
  const result = await store.gc();
  assert.deepEqual(new Set(result.removed), new Set([dropped.manifest.digest, dropped.configDigest, dropped.layer.digest]));
  assert.equal(result.tempFilesRemoved, 1);
  assert.ok(result.freedBytes > dropped.layer.size);
  for (const digest of referenced) assert.ok(await store.hasBlob(digest), `kept ${digest}`);
  for (const digest of result.removed) assert.equal(await store.hasBlob(digest), false);
  assert.ok(existsSync(join(store.dir, 'blobs', 'sha256', 'not-a-digest')));
  assert.deepEqual(tempFiles(store), []);
  assert.deepEqual((await store.gc()).removed, [], 'a second gc finds nothing');
  assert.equal((await resolveImage(store, 'kept')).config.rootfs.diff_ids[0], kept.diffId);
});

test('gc stops without removing anything when a referenced manifest is damaged', async (t) => {
  const { store, work } = await openTemp(t);
  const image = await buildImage(store, work, { name: 'base' });
  const orphan = await store.putBlob(Buffer.from('orphan'));
  const manifestPath = store.blobPath(image.manifest.digest);
  writeFileSync(manifestPath, readFileSync(manifestPath, 'utf8').replace('"layers"', '"layerz"'));
  await assert.rejects(store.gc(), DigestMismatchError);
  assert.ok(await store.hasBlob(orphan.digest));
  assert.ok(await store.hasBlob(image.layer.digest));
});

test('referrers: recorded beside their subject, hidden from images and find, kept by gc, gone with their image', async (t) => {
  const { store, work } = await openTemp(t);
  const built = await buildAttestedImage(store, work, 'signed:1');
  const other = await buildImage(store, work, { name: 'plain:1', content: 'plain\n' });
  assert.deepEqual((await store.referrers(built.index.digest)).map((entry) => entry.digest), [built.referrer.digest]);
  assert.deepEqual(await store.referrers(built.index.digest, 'application/vnd.other'), []);
  assert.deepEqual((await store.listEntries()).map((entry) => entry.name).sort(), ['plain:1', 'signed:1'], 'a referrer is not an image, nor <none>');
  await assert.rejects(findImage(store, built.referrer.digest), NotFoundError, 'a referrer is not found as an image');
  await store.addReferrer(built.referrer, built.index.digest);
  assert.equal((await store.readIndex()).manifests.length, 3, 'recording it twice changes nothing');
  await assert.rejects(store.addReferrer({ ...built.referrer, digest: sha256(Buffer.from('absent')) }, built.index.digest), NotFoundError);

  // A signature of the referrer itself goes when the referrer goes.
  const nested = await store.putBlob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: built.referrer, layers: [], subject: built.referrer })));
  await store.addReferrer({ mediaType: MediaType.ImageManifest, ...nested }, built.referrer.digest);
  const removedNothing = await store.removeUntagged();
  assert.deepEqual(removedNothing, [], 'referrers are not dangling images');
  let gc = await store.gc();
  assert.ok(!gc.removed.includes(built.referrer.digest) && existsSync(store.blobPath(built.referrer.digest)), 'gc keeps a referrer and its blobs');

  assert.equal(await store.untag(parseReference('signed:1')), true);
  assert.deepEqual(await store.referrers(built.index.digest), [], "the image's last name gone, its referrers go");
  assert.deepEqual(await store.referrers(built.referrer.digest), [], 'and theirs');
  assert.deepEqual((await store.listEntries()).map((entry) => entry.descriptor.digest), [other.manifest.digest]);
  gc = await store.gc();
  assert.ok(gc.removed.includes(built.referrer.digest));
});
