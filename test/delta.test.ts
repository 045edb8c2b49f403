/**
 * Delta transfer: `save --exclude-have` / `--since` leave out the layers the
 * receiving store holds; `load` of such an archive takes them from the store
 * (checked as it reads them) or refuses, naming them, with nothing tagged
 * and no temp file left.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Descriptor, Index } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { makeTempDir, requireRoot, requireTools, rootfs, runOk } from './helpers.js';
import { describeTree } from './tree.js';
import { resolveImage } from '../src/store/resolve.js';
import { makeImage, makeIndex, makeLayer, ociMembers, snapshot, storeImage, tarOf } from './fixtures.js';

interface Sender {
  work: string;
  store: string;
  /** base:1's two layers, which app:1 shares (app:1 adds a third). */
  shared: Descriptor[];
}

/** A store with base:1 (two layers) and app:1 (the same two plus one), the shared layers large enough to matter. */
async function buildSender(t: TestContext): Promise<Sender> {
  const work = makeTempDir(t);
  const storeDir = join(work, 'sender');
  const lower = tarOf([{ path: 'etc/' }, { path: 'etc/data', body: randomBytes(150_000).toString('base64') }, { path: 'etc/hostname', body: 'base\n' }]);
  const middle = tarOf([{ path: 'usr/' }, { path: 'usr/lib', body: randomBytes(90_000).toString('hex') }, { path: 'etc/.wh.hostname' }]);
  const top = tarOf([{ path: 'app/' }, { path: 'app/run', body: '#!/bin/sh\necho app\n', mode: 0o755 }]);
  const store = await Store.open(storeDir);
  try {
    await storeImage(store, 'base:1', [lower, middle]);
    await storeImage(store, 'app:1', [lower, middle, top]);
    const base = await resolveImage(store, 'base:1');
    return { work, store: storeDir, shared: base.manifest.layers };
  } finally {
    await store.close();
  }
}

async function ok(...args: string[]): Promise<string> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.toString();
}

/** A receiving store that holds base:1, loaded from a full archive as an air-gapped host would. */
async function buildReceiver(sender: Sender, name: string): Promise<string> {
  const archive = join(sender.work, `${name}-base.tar`);
  const store = join(sender.work, name);
  await ok('--store', sender.store, 'save', 'base:1', '-o', archive);
  await ok('--store', store, 'load', '-i', archive);
  return store;
}

async function members(archive: string): Promise<string[]> {
  return (await runOk('tar', ['-tf', archive])).stdout.toString().trim().split('\n').sort();
}

function unpacked(store: string, ref: string, dir: string): Promise<string> {
  return ok('--store', store, 'unpack', ref, dir);
}

test('--exclude-have: a docker-archive without the shared layers, smaller by their size, loads where they are and unpacks like the full one', async (t) => {
  if (!requireTools(t, 'tar') || !requireRoot(t)) return;
  const sender = await buildSender(t);
  const receiver = await buildReceiver(sender, 'receiver');
  const have = join(sender.work, 'have.json');
  await ok('--store', receiver, 'have', '-o', have);

  const full = join(sender.work, 'full.tar');
  const delta = join(sender.work, 'delta.tar');
  await ok('--store', sender.store, 'save', 'app:1', '-o', full);
  const report = JSON.parse(await ok('--store', sender.store, '--json', 'save', 'app:1', '--exclude-have', have, '-o', delta)) as { omitted: { layers: number; bytes: number } };
  const sharedBytes = sender.shared.reduce((sum, layer) => sum + layer.size, 0);
  assert.deepEqual(report.omitted, { layers: 2, bytes: sharedBytes });

  const kept = await members(delta);
  const left = (await members(full)).filter((name) => !kept.includes(name));
  assert.deepEqual(left, sender.shared.map((layer) => `blobs/sha256/${layer.digest.slice(7)}`).sort(), 'exactly the shared layer blobs are left out');
  const saved = statSync(full).size - statSync(delta).size;
  assert.ok(saved >= sharedBytes && saved <= sharedBytes + 4 * 512 + 10240, `${saved} bytes saved for ${sharedBytes} bytes of shared layers`);

  const loaded = await rootfs(['--store', receiver, 'load', '-i', delta]);
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.match(loaded.stdout.toString(), /^Loaded image: app:1$/m);
  assert.match(loaded.stderr, /2 layers \(.+\) left out of the archive found in the store/);

  const fromFull = join(sender.work, 'full-store');
  await ok('--store', fromFull, 'load', '-i', full);
  await unpacked(fromFull, 'app:1', join(sender.work, 'tree-full'));
  await unpacked(receiver, 'app:1', join(sender.work, 'tree-delta'));
  assert.deepEqual(describeTree(join(sender.work, 'tree-delta')), describeTree(join(sender.work, 'tree-full')));
  assert.equal((await rootfs(['--store', receiver, 'inspect', 'app:1'])).stdout.toString(), (await rootfs(['--store', fromFull, 'inspect', 'app:1'])).stdout.toString());
});

test('a delta archive on a store without the left-out layers is refused naming them and the image: exit 3, nothing tagged, no temp file', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const sender = await buildSender(t);
  const delta = join(sender.work, 'delta.tar');
  await ok('--store', sender.store, 'save', 'app:1', '--since', 'base:1', '-o', delta);

  const empty = join(sender.work, 'empty');
  await Store.open(empty).then((store) => store.close());
  const before = snapshot(empty);
  const refused = await rootfs(['--store', empty, 'load', '-i', delta]);
  assert.equal(refused.code, 3, refused.stderr);
  const lines = refused.stderr.trim().split('\n');
  assert.equal(lines.length, 1, refused.stderr);
  assert.match(lines[0]!, /image app:1: 2 layers neither in the archive nor in this store/);
  for (const layer of sender.shared) assert.ok(lines[0]!.includes(layer.digest), `${layer.digest} named in: ${lines[0]}`);
  assert.deepEqual(snapshot(empty), before, 'no tag, no blob, no temp file');

  // A store holding only one of the two still refuses, naming the other.
  const partial = join(sender.work, 'partial');
  const source = await Store.open(sender.store);
  const target = await Store.open(partial);
  try {
    await target.putBlob(await source.readBlob(sender.shared[0]!.digest));
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
  const partialBefore = snapshot(partial);
  const one = await rootfs(['--store', partial, 'load', '-i', delta]);
  assert.equal(one.code, 3, one.stderr);
  assert.match(one.stderr, new RegExp(`image app:1: layer neither in the archive nor in this store: ${sender.shared[1]!.digest}\\n$`));
  assert.deepEqual(snapshot(partial), partialBefore, 'no tag, no blob, no temp file');
});

test('a left-out layer whose bytes in the store are wrong is refused naming the blob, not trusted', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const sender = await buildSender(t);
  const receiver = await buildReceiver(sender, 'receiver');
  const delta = join(sender.work, 'delta.tar');
  await ok('--store', sender.store, 'save', 'app:1', '--since', 'base:1', '-o', delta);
  const damaged = join(receiver, 'blobs', 'sha256', sender.shared[1]!.digest.slice(7));
  const bytes = readFileSync(damaged);
  bytes[bytes.length >> 1]! ^= 0xff;
  writeFileSync(damaged, bytes);
  const before = snapshot(receiver);
  const refused = await rootfs(['--store', receiver, 'load', '-i', delta]);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^rootfs: ${damaged}: .*`));
  assert.deepEqual(snapshot(receiver), before, 'no tag, no blob, no temp file');
});

test('--since with oci-archive: the index names the layers left out; it loads where they are, umoci unpacks it like the full one; refused elsewhere', async (t) => {
  if (!requireTools(t, 'tar', 'umoci') || !requireRoot(t)) return;
  const sender = await buildSender(t);
  const receiver = await buildReceiver(sender, 'receiver');
  const full = join(sender.work, 'full.oci.tar');
  const delta = join(sender.work, 'delta.oci.tar');
  await ok('--store', sender.store, 'save', 'app:1', '--format', 'oci-archive', '-o', full);
  const report = JSON.parse(await ok('--store', sender.store, '--json', 'save', 'app:1', '--since', 'base:1', '-o', `oci-archive:${delta}`)) as { omitted: { layers: number; bytes: number } };
  assert.equal(report.omitted.layers, 2);
  const saved = statSync(full).size - statSync(delta).size;
  assert.ok(saved >= report.omitted.bytes, `${saved} bytes saved for ${report.omitted.bytes} bytes of shared layers`);

  const index = JSON.parse((await runOk('tar', ['-xOf', delta, 'index.json'])).stdout.toString()) as Index;
  assert.equal(index.annotations?.['io.rootfs.delta.omitted-layers'], sender.shared.map((layer) => layer.digest).sort().join(','));

  const empty = join(sender.work, 'empty');
  const refused = await rootfs(['--store', empty, 'load', '-i', delta]);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, /app:1: 2 layers neither in the archive nor in this store/);

  await ok('--store', receiver, 'load', '-i', delta);
  const fromFull = join(sender.work, 'full-store');
  await ok('--store', fromFull, 'load', '-i', full);
  for (const [store, tree] of [[receiver, 'tree-delta'], [fromFull, 'tree-full']] as const) {
    await runOk('umoci', ['unpack', '--image', `${store}:app:1`, join(sender.work, tree)]);
  }
  assert.deepEqual(describeTree(join(sender.work, 'tree-delta', 'rootfs')), describeTree(join(sender.work, 'tree-full', 'rootfs')));
});

test('--exclude-have with nothing in common leaves nothing out; docker-legacy refuses to leave layers out; a bad have file is named', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const sender = await buildSender(t);
  const emptyStore = join(sender.work, 'empty');
  const have = join(sender.work, 'have.json');
  await Store.open(emptyStore).then((store) => store.close());
  await ok('--store', emptyStore, 'have', '-o', have);
  const full = join(sender.work, 'full.tar');
  const same = join(sender.work, 'same.tar');
  await ok('--store', sender.store, 'save', 'app:1', '-o', full);
  const report = JSON.parse(await ok('--store', sender.store, '--json', 'save', 'app:1', '--exclude-have', have, '-o', same)) as { omitted: { layers: number; bytes: number } };
  assert.deepEqual(report.omitted, { layers: 0, bytes: 0 });
  assert.ok(readFileSync(same).equals(readFileSync(full)), 'nothing left out: the same bytes as a full save');

  const legacy = await rootfs(['--store', sender.store, 'save', 'app:1', '--since', 'base:1', '--format', 'docker-legacy', '-o', join(sender.work, 'legacy.tar')]);
  assert.equal(legacy.code, 2, legacy.stderr);
  assert.match(legacy.stderr, /docker-legacy archives cannot leave layers out/);
  assert.equal(existsSync(join(sender.work, 'legacy.tar')), false);

  writeFileSync(have, '{"format":"rootfs-parts"}');
  const bad = await rootfs(['--store', sender.store, 'save', 'app:1', '--exclude-have', have, '-o', join(sender.work, 'x.tar')]);
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, new RegExp(`${have}: not a have file`));
});

test('an index child whose layer the archive says it left out is checked, not taken for a platform never pulled', async (t) => {
  const work = makeTempDir(t);
  const amd = makeImage([makeLayer({ 'etc/os': 'amd64\n' })]);
  const arm = makeImage([makeLayer({ 'etc/os': 'arm64\n' })], { platform: { architecture: 'arm64', os: 'linux' } });
  const index = makeIndex([amd, arm]);
  const armLayer = arm.layers[0]!.descriptor.digest;
  const archive = (annotated: boolean): string => {
    const members = ociMembers([{ descriptor: index.descriptor, refName: 'multi:1' }], [amd, arm], [index.member]).filter((member) => member.path !== `blobs/sha256/${armLayer.slice(7)}`);
    const last = members[members.length - 1]!;
    const document = JSON.parse(last.body!.toString()) as Index;
    if (annotated) document.annotations = { 'io.rootfs.delta.omitted-layers': armLayer };
    last.body = Buffer.from(JSON.stringify(document));
    const path = join(work, annotated ? 'delta.tar' : 'partial.tar');
    writeFileSync(path, tarOf(members));
    return path;
  };
  // Without the annotation the arm64 platform was never pulled: the index loads with amd64 whole.
  await ok('--store', join(work, 'plain'), 'load', '-i', archive(false));
  const store = join(work, 'delta');
  const refused = await rootfs(['--store', store, 'load', '-i', archive(true)]);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, new RegExp(`image multi:1: layer neither in the archive nor in this store: ${armLayer}\\n$`));
  assert.equal(existsSync(store), false, 'the refused load removed the store it had created');
});
