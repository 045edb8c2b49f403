/**
 * Trust across the air gap, end to end through the CLI: save --sign on one
 * side, load/pull --require-signed (or the store's policy.json) on the
 * other; what is not signed by a trusted key is refused with the store
 * unchanged; signatures survive save → load → push → pull → save --format
 * oci, and skopeo reads what carries them.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../src/oci/digest.js';
import type { Index, Manifest } from '../src/oci/types.js';
import { keyHint, readVerifyingKey } from '../src/trust/index.js';
import { makeTempDir, requireTools, rootfs } from './helpers.js';
import { skopeo, startRegistry } from './registry-server.js';
import { writeKeys } from './trust-fixture.js';
import { buildImage, buildMultiPlatformImage, snapshot, withStore } from './fixtures.js';

const bundleType = 'application/vnd.dev.sigstore.bundle.v0.3+json';

async function ok(args: string[]): Promise<string> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return result.stderr;
}

/** An empty store, created, so that its hash before a refused command is the hash after. */
async function emptyStore(dir: string, name: string): Promise<string> {
  const store = join(dir, name);
  await ok(['--store', store, 'gc']);
  return store;
}

test('save --sign → load --require-signed; unsigned, another key, a revoked key and a policy file are refused with the store unchanged', async (t) => {
  const dir = makeTempDir(t);
  const site = writeKeys(dir, 'site');
  const other = writeKeys(dir, 'other');
  const source = join(dir, 'source');
  await withStore(source, async (store) => {
    await buildImage(store, dir, { name: 'app:1', content: 'app\n' });
    await buildMultiPlatformImage(store, dir, 'multi:1');
    await buildImage(store, dir, { name: 'unsigned:1', content: 'unsigned\n' });
  });
  const signed = join(dir, 'signed.tar');
  const stderr = await ok(['--store', source, 'save', 'app:1', 'multi:1', '--sign', site.key, '-o', signed]);
  assert.match(stderr, /app:1: signed sha256:/);
  const unsigned = join(dir, 'unsigned.tar');
  await ok(['--store', source, 'save', 'unsigned:1', '-o', unsigned]);

  const good = await emptyStore(dir, 'good');
  const loaded = await ok(['--store', good, 'load', '-i', signed, '--require-signed', `${other.pub},${site.pub}`]);
  assert.match(loaded, new RegExp(`app:1: signature by ${site.pub} verified`));
  assert.match(loaded, /multi:1: signature by .* verified/);
  await ok(['--store', good, 'verify', 'multi:1', '--key', site.pub]);

  const refusals: Array<{ args: string[]; message: RegExp; code: number }> = [
    { args: ['load', '-i', unsigned, '--require-signed', site.pub], message: /^rootfs: unsigned:1: no signature/, code: 3 },
    { args: ['load', '-i', signed, '--require-signed', other.pub], message: /^rootfs: app:1: .*(another key|not signed by)/i, code: 3 },
    { args: ['load', '-i', signed, '--require-signed', site.pub, '--no-referrers'], message: /--no-referrers leaves the signatures behind/, code: 2 },
  ];
  for (const [i, { args, message, code }] of refusals.entries()) {
    const store = await emptyStore(dir, `refused-${i}`);
    const before = snapshot(store);
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
    assert.deepEqual(snapshot(store), before, `${args.join(' ')} leaves the store as it was`);
  }

  // The store's policy.json requires signatures without a flag; a revoked key is never trusted.
  const guarded = await emptyStore(dir, 'guarded');
  writeFileSync(join(guarded, 'policy.json'), JSON.stringify({ version: 1, requireSigned: [site.pub] }));
  let before = snapshot(guarded);
  const byPolicy = await rootfs(['--store', guarded, 'load', '-i', unsigned]);
  assert.equal(byPolicy.code, 3, byPolicy.stderr);
  assert.match(byPolicy.stderr, /no signature/);
  assert.deepEqual(snapshot(guarded), before);
  await ok(['--store', guarded, 'load', '-i', signed]);
  const hint = keyHint((await readVerifyingKey(site.pub)).publicKey);
  writeFileSync(join(guarded, 'policy.json'), JSON.stringify({ version: 1, requireSigned: [site.pub, other.pub], revokedKeys: [hint] }));
  before = snapshot(guarded);
  const revoked = await rootfs(['--store', guarded, 'load', '-i', signed]);
  assert.equal(revoked.code, 3, 'the one key left (other) did not sign it');
  assert.deepEqual(snapshot(guarded), before);
  const named = await rootfs(['--store', guarded, 'load', '-i', signed, '--require-signed', site.pub]);
  assert.equal(named.code, 2);
  assert.match(named.stderr, /this key is revoked by .*policy\.json/);

  // A tampered signature in an OCI layout: its digest no longer matches, refused before anything is named.
  const layout = join(dir, 'layout');
  await ok(['--store', source, 'save', 'app:1', '-o', `oci:${layout}`]);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
  const signature = index.manifests.find((entry) => entry.artifactType === bundleType)!;
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', signature.digest.slice(7)), 'utf8')) as Manifest;
  const bundlePath = join(layout, 'blobs/sha256', manifest.layers[0]!.digest.slice(7));
  const bundle = readFileSync(bundlePath);
  bundle[bundle.length - 10] ^= 1;
  writeFileSync(bundlePath, bundle);
  const tamperedStore = await emptyStore(dir, 'tampered');
  before = snapshot(tamperedStore);
  const tampered = await rootfs(['--store', tamperedStore, 'load', '-i', `oci:${layout}`, '--require-signed', site.pub]);
  assert.equal(tampered.code, 3, tampered.stderr);
  assert.deepEqual(snapshot(tamperedStore), before);
});

test('signatures survive save → load → push → pull → save --format oci, and skopeo reads the layout that carries them', async (t) => {
  if (!requireTools(t, 'skopeo', 'docker-registry')) return;
  const dir = makeTempDir(t);
  const site = writeKeys(dir, 'site');
  const registry = await startRegistry(t);
  const first = join(dir, 'first');
  await withStore(first, (store) => buildImage(store, dir, { name: 'app:1', content: 'app\n' }));
  await ok(['--store', first, 'sign', 'app:1', '--key', site.key]);
  const archive = join(dir, 'app.tar');
  await ok(['--store', first, 'save', 'app:1', '-o', archive]);
  const second = join(dir, 'second');
  await ok(['--store', second, 'load', '-i', archive, '--require-signed', site.pub]);
  await ok(['--store', second, 'push', 'app:1', `${registry.host}/site/app:1`]);

  // An unsigned image on the same registry is refused by pull --require-signed, the store unchanged.
  const plainStore = join(dir, 'plain-source');
  await withStore(plainStore, (store) => buildImage(store, dir, { name: 'plain:1', content: 'plain\n' }));
  await ok(['--store', plainStore, 'push', 'plain:1', `${registry.host}/site/plain:1`]);
  const third = await emptyStore(dir, 'third');
  const before = snapshot(third);
  const refused = await rootfs(['--store', third, 'pull', `${registry.host}/site/plain:1`, '--require-signed', site.pub]);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, /no signature/);
  assert.deepEqual(snapshot(third), before);

  await ok(['--store', third, 'pull', `${registry.host}/site/app:1`, 'app:1', '--require-signed', site.pub]);
  await ok(['--store', third, 'verify', 'app:1', '--key', site.pub]);
  const layout = join(dir, 'layout');
  await ok(['--store', third, 'save', 'app:1', '--format', 'oci', '-o', `oci:${layout}:app`]);

  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
  const image = index.manifests.find((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] === 'app')!;
  const signature = index.manifests.find((entry) => entry.artifactType === bundleType);
  assert.ok(signature, 'the layout lists the signature manifest');
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', signature.digest.slice(7)), 'utf8')) as Manifest;
  assert.equal(manifest.subject?.digest, image.digest, 'it still refers to the image, whose digest every hop kept');
  const raw = await skopeo('inspect', '--raw', `oci:${layout}:app`);
  assert.equal(sha256(Buffer.from(raw)), image.digest, 'skopeo reads the same manifest');
  // skopeo keeps the signature as an image of its own: copied with --preserve-digests it still names its subject.
  const copied = join(dir, 'skopeo-layout');
  await skopeo('copy', '--preserve-digests', `oci:${layout}:app`, `oci:${copied}:app`);
  const fourth = join(dir, 'fourth');
  await ok(['--store', fourth, 'load', '-i', `oci:${layout}`, '--require-signed', site.pub]);
  assert.equal(JSON.parse(readFileSync(join(copied, 'index.json'), 'utf8')).manifests[0].digest, image.digest);
});
