/**
 * `rootfs import DIR` (pack's walker straight into the layer) against
 * `pack DIR | import -`, and the gzip layers of both encoders read by the
 * real peers.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { native } from '../src/native/index.js';
import { makeRootTree } from './fixtures.js';
import { makeTempDir, requireLibdeflate, requireRoot, requireTools, rootfs, runOk } from './helpers.js';
import { describeTree } from './tree.js';

interface Imported {
  diffId: string;
  layer: { digest: string; size: number };
  entries: number;
}

async function importJson(args: string[], store: string, opts: { input?: Buffer; env?: Record<string, string> } = {}): Promise<Imported> {
  const result = await rootfs(['import', '--json', ...args], { input: opts.input, env: { ROOTFS_STORE: store, ...opts.env } });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.toString()) as Imported;
}

function blob(store: string, digest: string): Buffer {
  return readFileSync(join(store, 'blobs/sha256', digest.slice('sha256:'.length)));
}

test('import DIR gives the same diff_id and layer as pack DIR | import -, with the same flags; never packs the store; a tarball takes the path rules, not the walk\'s flags', async (t) => {
  if (!requireRoot(t)) return;
  const dir = makeTempDir(t);
  const source = join(dir, 'root');
  mkdirSync(source);
  if (!makeRootTree(t, source)) return;
  mkdirSync(join(source, 'var/cache/apt'), { recursive: true });
  writeFileSync(join(source, 'var/cache/apt/pkgcache.bin'), 'cache');
  // A store inside the tree: its blobs (the layer being written among them) must not go into the layer.
  const store = join(source, 'srv/store');
  mkdirSync(store, { recursive: true });
  for (const flags of [[], ['--exclude', 'var/cache', '--mtime', '2024-01-01T00:00:00Z'], ['--no-default-excludes']]) {
    const packed = await rootfs(['pack', source, ...flags, '--exclude', 'srv/store']);
    assert.ok(packed.code === 0, packed.stderr);
    const piped = await importJson(['-', 'piped:1'], store, { input: packed.stdout });
    const direct = await importJson([source, 'direct:1', ...flags], store);
    assert.equal(direct.diffId, piped.diffId, `flags ${flags.join(' ')}`);
    assert.equal(direct.layer.digest, piped.layer.digest);
    assert.equal(direct.entries, piped.entries);
  }
  const bundle = join(dir, 'bundle');
  if (requireTools(t, 'umoci')) {
    await runOk('umoci', ['unpack', '--image', `${store}:direct:1`, bundle]);
    const unpacked = describeTree(join(bundle, 'rootfs'), { withMtime: true });
    const expected = describeTree(source, { withMtime: true });
    for (const path of Object.keys(expected)) if (path.startsWith('srv/store/')) delete expected[path];
    delete expected['srv/store'];
    assert.deepEqual(unpacked, expected);
  }

  const tar = join(dir, 'root.tar');
  writeFileSync(tar, (await rootfs(['pack', source, '--exclude', 'srv/store'])).stdout);
  const fromTar = await importJson([tar, 'tar:1', '--exclude', 'etc'], store);
  const fromDir = await importJson([source, 'dir:1', '--exclude', 'etc', '--exclude', 'srv/store'], store);
  assert.equal(fromTar.diffId, fromDir.diffId);
  for (const flag of ['--cross-mounts', '--selinux', '--strict']) {
    const refused = await rootfs(['import', tar, flag], { env: { ROOTFS_STORE: store } });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, new RegExp(`^rootfs: .*${flag} applies to a directory walk, not to a tarball \\(${tar}\\)`));
  }
});

test('gzip layers: libdeflate (default) and zlib (ROOTFS_GZIP_ENCODER=zlib) give the same diff_id and inflated bytes; both pass gzip -t and pigz -t; skopeo and umoci read them; the same digest twice', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'gzip', 'pigz', 'skopeo', 'umoci')) return;
  if (!requireLibdeflate(t)) return;
  const dir = makeTempDir(t);
  const source = join(dir, 'root');
  mkdirSync(source);
  if (!makeRootTree(t, source)) return;
  const store = join(dir, 'store');
  const tar = (await rootfs(['pack', source, '--no-default-excludes'])).stdout;
  const fast = await importJson(['-', 'fast:1'], store, { input: tar });
  const again = await importJson([source, 'fast:2', '--no-default-excludes'], store);
  const zlib = await importJson(['-', 'zlib:1'], store, { input: tar, env: { ROOTFS_GZIP_ENCODER: 'zlib' } });
  assert.equal(again.layer.digest, fast.layer.digest, 'deterministic: the same layer twice');
  assert.notEqual(zlib.layer.digest, fast.layer.digest, 'the encoders differ in bytes');
  assert.equal(zlib.diffId, fast.diffId);
  const fastBlob = blob(store, fast.layer.digest);
  const zlibBlob = blob(store, zlib.layer.digest);
  assert.ok(fastBlob.length <= zlibBlob.length, `libdeflate ${fastBlob.length} bytes, zlib ${zlibBlob.length}`);
  assert.ok(gunzipSync(fastBlob).equals(tar));
  assert.ok(gunzipSync(zlibBlob).equals(tar));
  for (const layer of [fastBlob, zlibBlob]) {
    await runOk('gzip', ['-t'], { input: layer });
    await runOk('pigz', ['-t'], { input: layer });
    assert.ok((await runOk('pigz', ['-dc'], { input: layer })).stdout.equals(tar));
  }

  // skopeo inflates every layer into a docker-archive and checks it against the diff_id there.
  rmSync('/var/lib/containers/cache/blob-info-cache-v1.boltdb', { force: true });
  const archive = join(dir, 'fast.tar');
  await runOk('skopeo', ['copy', `oci:${store}:fast:1`, `docker-archive:${archive}:fast:1`]);
  const manifest = JSON.parse((await runOk('tar', ['-xOf', archive, 'manifest.json'])).stdout.toString()) as [{ Layers: string[] }];
  assert.ok((await runOk('tar', ['-xOf', archive, manifest[0].Layers[0]!])).stdout.equals(tar));
  const bundle = join(dir, 'bundle');
  await runOk('umoci', ['unpack', '--image', `${store}:fast:1`, bundle]);
  assert.deepEqual(describeTree(join(bundle, 'rootfs'), { withMtime: true }), describeTree(source, { withMtime: true }));
});

test('rootfs version names the gzip encoder in use, and ROOTFS_GZIP_ENCODER=zlib changes it', async () => {
  const normal = await rootfs(['version', '--json']);
  assert.equal(normal.code, 0, normal.stderr);
  const info = JSON.parse(normal.stdout.toString()) as { version: string; gzip: string; zstd: string };
  assert.match(info.gzip, native.gzipMember ? /^libdeflate \d+\.\d+ \(one member per 1 MiB block\)$/ : /^zlib .*built without libdeflate/);
  assert.match(info.zstd, /^libzstd \d+\.\d+\.\d+/);
  const forced = await rootfs(['version'], { env: { ROOTFS_GZIP_ENCODER: 'zlib' } });
  assert.match(forced.stdout.toString(), native.gzipMember ? /^gzip: zlib .*ROOTFS_GZIP_ENCODER=zlib\)$/m : /^gzip: zlib .*built without libdeflate\)$/m);
});
