/**
 * The drift issue 12 found between copy paths, one test per case: two ways
 * to do one thing must agree (platform choice, annotations kept, the
 * refusal of a broken config, the meaning of a name, nothing kept on failure).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../src/oci/digest.js';
import { MediaType, type Index } from '../src/oci/types.js';
import { makeTempDir, requireTools, rootfs } from './helpers.js';
import { startRegistry } from './registry-server.js';
import { buildImage, makeImage, makeIndex, makeLayer, ociMembers, putImage, snapshot, tarOf, withStore } from './fixtures.js';

test('drift 1: an index with one platform-less child: load --platform agrees with load then save --platform', async (t) => {
  const dir = makeTempDir(t);
  const image = makeImage([makeLayer({ 'etc/hello': 'no platform\n' })]);
  delete image.manifestDescriptor.platform;
  const index = makeIndex([image]);
  const archive = join(dir, 'app.tar');
  writeFileSync(archive, tarOf(ociMembers([{ descriptor: index.descriptor, refName: 'app:1' }], [image], [index.member])));

  const withFlag = await rootfs(['--store', join(dir, 'a'), 'load', '--platform', 'linux/amd64', '-i', `oci-archive:${archive}`]);
  assert.equal(withFlag.code, 0, withFlag.stderr);

  const store = join(dir, 'b');
  const plain = await rootfs(['--store', store, 'load', '-i', `oci-archive:${archive}`]);
  assert.equal(plain.code, 0, plain.stderr);
  const saved = await rootfs(['--store', store, 'save', '--platform', 'linux/amd64', 'app:1', '-o', join(dir, 'out.tar')]);
  assert.equal(saved.code, 0, saved.stderr);
  // And pick the same manifest: the one child.
  const inspect = async (s: string): Promise<string> => (await rootfs(['--store', s, 'inspect', '--format', '{{.Id}}', 'app:1'])).stdout.toString().trim();
  assert.equal(await inspect(join(dir, 'a')), image.configDigest);
  assert.equal(await inspect(store), image.configDigest);
});

test('drift 2: load then save keeps every non-name annotation of the index.json entry', async (t) => {
  const dir = makeTempDir(t);
  const image = makeImage([makeLayer({ 'etc/hello': 'annotated\n' })]);
  const annotations = { 'org.opencontainers.image.ref.name': 'app:1', 'org.opencontainers.image.created': '2024-05-06T07:08:09Z', 'com.example.note': 'kept' };
  const members = ociMembers([{ descriptor: image.manifestDescriptor }], [image]);
  const indexMember = members.find((member) => member.path === 'index.json')!;
  indexMember.body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [{ ...image.manifestDescriptor, annotations }] }));
  const archive = join(dir, 'app.tar');
  writeFileSync(archive, tarOf(members));
  const store = join(dir, 'store');
  const loaded = await rootfs(['--store', store, 'load', '-i', `oci-archive:${archive}`]);
  assert.equal(loaded.code, 0, loaded.stderr);
  const out = join(dir, 'layout');
  const saved = await rootfs(['--store', store, 'save', 'app:1', '-o', `oci:${out}`]);
  assert.equal(saved.code, 0, saved.stderr);
  const entry = (JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as Index).manifests[0]!;
  assert.equal(entry.annotations?.['org.opencontainers.image.created'], '2024-05-06T07:08:09Z');
  assert.equal(entry.annotations?.['com.example.note'], 'kept');
});

test('drift 3: a config lacking rootfs: squash by name and by short ID both exit 3 in one line', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const image = makeImage([makeLayer({ 'etc/hello': 'x\n' })], { config: Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {} })) });
  await withStore(store, (s) => putImage(s, image, 'bad:1'));
  const configDigest = image.configDigest;
  for (const ref of ['bad:1', configDigest.slice('sha256:'.length, 'sha256:'.length + 12)]) {
    const result = await rootfs(['--store', store, 'squash', ref, 'flat:1']);
    assert.equal(result.code, 3, `squash ${ref}: ${result.stderr}`);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^rootfs: .*rootfs/);
  }
});

test('drift 4: squash NAME where NAME:latest is a tag (and looks like an ID) retags NAME:latest', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const before = await withStore(store, (s) => buildImage(s, dir, { name: 'abcd:latest', content: 'abcd\n' }));
  const result = await rootfs(['--store', store, '--json', 'squash', 'abcd']);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual((JSON.parse(result.stdout.toString()) as { tags: string[] }).tags, ['abcd:latest']);
  const id = (await rootfs(['--store', store, 'inspect', '--format', '{{.Id}}', 'abcd:latest'])).stdout.toString().trim();
  assert.notEqual(id, before.configDigest, 'abcd:latest now names the squashed image');
});

test('drift 5: a failed load and a failed pull both leave blobs/ as it was', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await withStore(store, (s) => buildImage(s, dir, { name: 'kept:1', content: 'kept\n' }));
  const before = snapshot(store);

  // Load: the first layer is good (and new), the second's bytes are not its digest's.
  const good = makeLayer({ 'etc/one': 'one\n' });
  const bad = makeLayer({ 'etc/two': 'two\n' });
  const image = makeImage([good, bad]);
  const members = ociMembers([{ descriptor: image.manifestDescriptor, refName: 'broken:1' }], [image]);
  const badMember = members.find((member) => member.path === `blobs/sha256/${bad.descriptor.digest.slice(7)}`)!;
  badMember.body = Buffer.from(badMember.body!);
  badMember.body[badMember.body.length - 1] ^= 0xff;
  const archive = join(dir, 'broken.tar');
  writeFileSync(archive, tarOf(members));
  const loaded = await rootfs(['--store', store, 'load', '-i', `oci-archive:${archive}`]);
  assert.equal(loaded.code, 3, loaded.stderr);
  assert.deepEqual(snapshot(store), before, 'a failed load adds no blob');

  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const source = join(dir, 'source');
  const pushed = await withStore(source, (s) => buildImage(s, dir, { name: 'app:1', content: 'pulled\n' }));
  assert.equal((await rootfs(['--store', source, 'push', 'app:1', `${registry.host}/ns/app:1`])).code, 0);
  const hex = pushed.layer.digest.slice('sha256:'.length);
  const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const bytes = readFileSync(data);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(data, bytes);
  const pulled = await rootfs(['--store', store, 'pull', `${registry.host}/ns/app:1`]);
  assert.equal(pulled.code, 3, pulled.stderr);
  assert.deepEqual(snapshot(store), before, 'a failed pull keeps none of the blobs it fetched (the config came first)');
  assert.equal(sha256(readFileSync(data)) !== pushed.layer.digest, true);
});
