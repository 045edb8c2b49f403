/**
 * save and load against the real peers: skopeo's docker-archive loads with
 * docker's image ID; what we save, skopeo reads with the same layers and
 * config, oci-image-tool validates, umoci unpacks to the source tree.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, linkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Index, Manifest } from '../src/oci/types.js';
import { cliPath, makeTempDir, requireRoot, requireTools, rootfs, runOk } from './helpers.js';
import { skopeo } from './registry-server.js';
import { describeTree } from './tree.js';
import { layerTar } from './fixtures.js';


async function cli(...args: string[]): Promise<string> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.toString();
}

interface Source {
  dir: string;
  /** OCI layout built by umoci: tag one (one layer) and tag two (a second layer over the same first). */
  layout: string;
  rootOne: string;
  rootTwo: string;
}

/** Two images from umoci, the second sharing the first's layer. */
async function buildSource(t: TestContext): Promise<Source> {
  const dir = makeTempDir(t);
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:one`]);
  await runOk('umoci', ['unpack', '--image', `${layout}:one`, bundle]);
  const root = join(bundle, 'rootfs');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'etc/hostname'), 'source\n');
  writeFileSync(join(root, 'bin/tool'), Buffer.alloc(70000, 0x61));
  chmodSync(join(root, 'bin/tool'), 0o4755);
  linkSync(join(root, 'bin/tool'), join(root, 'bin/tool-link'));
  symlinkSync('tool', join(root, 'bin/alias'));
  await runOk('umoci', ['repack', '--image', `${layout}:one`, bundle]);
  const rootOne = join(dir, 'root-one');
  await runOk('umoci', ['unpack', '--image', `${layout}:one`, rootOne]);
  // A fresh bundle of one, so that two is one's layer plus a second.
  const bundleTwo = join(dir, 'bundle-two');
  await runOk('umoci', ['unpack', '--image', `${layout}:one`, bundleTwo]);
  writeFileSync(join(bundleTwo, 'rootfs/etc/motd'), 'second layer\n');
  rmSync(join(bundleTwo, 'rootfs/etc/hostname'));
  await runOk('umoci', ['repack', '--image', `${layout}:two`, bundleTwo]);
  const rootTwo = join(dir, 'root-two');
  await runOk('umoci', ['unpack', '--image', `${layout}:two`, rootTwo]);
  return { dir, layout, rootOne: join(rootOne, 'rootfs'), rootTwo: join(rootTwo, 'rootfs') };
}

function storeIndex(store: string): Index {
  return JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as Index;
}

function storeManifest(store: string, name: string): { digest: string; manifest: Manifest } {
  const entry = storeIndex(store).manifests.find((candidate) => candidate.annotations?.['org.opencontainers.image.ref.name'] === name);
  assert.ok(entry, `${name} in the store`);
  return { digest: entry.digest, manifest: JSON.parse(readFileSync(join(store, 'blobs/sha256', entry.digest.slice(7)), 'utf8')) as Manifest };
}

function storeConfig(store: string, name: string): unknown {
  const { manifest } = storeManifest(store, name);
  return JSON.parse(readFileSync(join(store, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'));
}

/** Unpacks name from an OCI layout with umoci and describes its root. */
async function unpacked(layout: string, name: string, into: string): Promise<ReturnType<typeof describeTree>> {
  await runOk('umoci', ['unpack', '--image', `${layout}:${name}`, into]);
  return describeTree(join(into, 'rootfs'));
}

/** A store holding app:1 and app:2, loaded from skopeo's classic docker-archives; checks the image IDs on the way. */
async function loadedStore(source: Source): Promise<string> {
  const store = join(source.dir, 'store');
  for (const [tag, name] of [['one', 'app:1'], ['two', 'app:2']] as const) {
    const archive = join(source.dir, `${tag}.docker.tar`);
    await skopeo('copy', `oci:${source.layout}:${tag}`, `docker-archive:${archive}:${name}`);
    assert.equal(await cli('--store', store, 'load', '-i', archive), `Loaded image: ${name}\n`);
    const dockerManifest = JSON.parse(await skopeo('inspect', '--raw', `docker-archive:${archive}`)) as Manifest;
    assert.equal(storeManifest(store, name).manifest.config.digest, dockerManifest.config.digest, 'image ID is the one the archive carries');
  }
  return store;
}

test('skopeo docker-archive → load: same image ID, umoci unpacks the source tree, shared layer stored once', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'skopeo', 'umoci')) return;
  const source = await buildSource(t);
  const store = await loadedStore(source);
  assert.deepEqual(await unpacked(store, 'app:1', join(source.dir, 'check-one')), describeTree(source.rootOne));
  assert.deepEqual(await unpacked(store, 'app:2', join(source.dir, 'check-two')), describeTree(source.rootTwo));
  const one = storeManifest(store, 'app:1').manifest;
  const two = storeManifest(store, 'app:2').manifest;
  assert.equal(one.layers[0]!.digest, two.layers[0]!.digest, 'the shared layer is one blob');
  // 2 layers (one shared), 2 configs, 2 manifests.
  assert.equal(readdirSync(join(store, 'blobs/sha256')).length, 6);
});

test('save docker-archive → skopeo reads the same layers and config; load of it gives the same image', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'skopeo', 'umoci', 'oci-image-tool')) return;
  const source = await buildSource(t);
  const store = await loadedStore(source);
  const archive = join(source.dir, 'saved.tar');
  await cli('--store', store, 'save', 'app:1', 'app:2', '-o', archive);
  for (const name of ['app:1', 'app:2']) {
    const ours = storeManifest(store, name).manifest;
    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${archive}:${name}`)) as { Layers: string[] };
    assert.deepEqual(inspected.Layers, ours.layers.map((layer) => layer.digest));
    assert.deepEqual(JSON.parse(await skopeo('inspect', '--config', `docker-archive:${archive}:${name}`)), storeConfig(store, name));
  }
  // Through skopeo into an OCI layout: it rewrites the config bytes but not its contents.
  const copied = join(source.dir, 'copied');
  await skopeo('copy', `docker-archive:${archive}:app:2`, `oci:${copied}:t`);
  const config = JSON.parse(await skopeo('inspect', '--config', `oci:${copied}:t`)) as { rootfs: unknown; config: unknown; architecture: string; os: string };
  const original = storeConfig(store, 'app:2') as typeof config;
  assert.deepEqual([config.rootfs, config.config, config.architecture, config.os], [original.rootfs, original.config, original.architecture, original.os]);
  assert.deepEqual(await unpacked(copied, 't', join(source.dir, 'via-skopeo')), describeTree(source.rootTwo));
  // Its OCI half is a valid layout (Docker 25 names entries by tag alone in ref.name).
  const extracted = join(source.dir, 'saved-extracted');
  mkdirSync(extracted);
  await runOk('tar', ['-xf', archive, '-C', extracted]);
  for (const tag of ['1', '2']) await runOk('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${tag}`, extracted]);
  // The shared layer is in the archive once.
  const members = (await runOk('tar', ['-tf', archive])).stdout.toString().split('\n');
  assert.equal(members.filter((member) => member === `blobs/sha256/${storeManifest(store, 'app:1').manifest.layers[0]!.digest.slice(7)}`).length, 1);
  // And back: both tags, same images.
  const again = join(source.dir, 'again');
  assert.equal(await cli('--store', again, 'load', '-i', archive), 'Loaded image: app:1\nLoaded image: app:2\n');
  for (const name of ['app:1', 'app:2']) assert.equal(storeManifest(again, name).digest, storeManifest(store, name).digest, 'manifest kept byte for byte');
});

test('save oci-archive and oci: skopeo inspects, oci-image-tool validates, umoci unpacks; a second save adds to a layout', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'skopeo', 'umoci', 'oci-image-tool', 'tar')) return;
  const source = await buildSource(t);
  const store = await loadedStore(source);
  const archive = join(source.dir, 'saved.oci.tar');
  await cli('--store', store, 'save', 'app:1', '-o', `oci-archive:${archive}`);
  const inspected = JSON.parse(await skopeo('inspect', `oci-archive:${archive}:app:1`)) as { Digest: string };
  assert.equal(inspected.Digest, storeManifest(store, 'app:1').digest);
  const extracted = join(source.dir, 'extracted');
  mkdirSync(extracted);
  await runOk('tar', ['-xf', archive, '-C', extracted]);
  await runOk('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=app:1', extracted]);

  const layout = join(source.dir, 'layout-out');
  await cli('--store', store, 'save', 'app:1', '-o', `oci:${layout}`);
  await cli('--store', store, 'save', 'app:2', '-o', `oci:${layout}`);
  for (const name of ['app:1', 'app:2']) await runOk('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${name}`, layout]);
  assert.deepEqual(await unpacked(layout, 'app:2', join(source.dir, 'from-layout')), describeTree(source.rootTwo));
  assert.deepEqual(readdirSync(source.dir).filter((name) => name.includes('.tmp') || name.startsWith('.rootfs-save')), [], 'no temp files beside the outputs');

  // An OCI layout directory loads by plain path (format detected), with the names it carries.
  const fromDir = join(source.dir, 'from-dir');
  assert.equal(await cli('--store', fromDir, 'load', '-i', layout), 'Loaded image: app:1\nLoaded image: app:2\n');
  assert.equal(storeManifest(fromDir, 'app:2').digest, storeManifest(store, 'app:2').digest);
});

test('--compression: gzip and zstd layers keep the image ID; docker-legacy loads in skopeo and back; stdout pipes into load', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'skopeo', 'umoci')) return;
  const source = await buildSource(t);
  const store = await loadedStore(source);
  const id = storeManifest(store, 'app:2').manifest.config.digest;
  const diffIds = (storeConfig(store, 'app:2') as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;

  const gzipped = join(source.dir, 'gzip.tar');
  await cli('--store', store, 'save', 'app:2', '--compression', 'gzip', '-o', gzipped);
  const [entry] = JSON.parse((await runOk('tar', ['-xOf', gzipped, 'manifest.json'])).stdout.toString()) as Array<{ Layers: string[] }>;
  for (const layer of entry!.Layers) {
    const head = (await runOk('tar', ['-xOf', gzipped, layer])).stdout.subarray(0, 2);
    assert.deepEqual([...head], [0x1f, 0x8b], `${layer} is gzip`);
  }
  // skopeo decompresses docker-archive layers and names them by what they decompress to.
  assert.deepEqual((JSON.parse(await skopeo('inspect', `docker-archive:${gzipped}`)) as { Layers: string[] }).Layers, diffIds);
  const gzipStore = join(source.dir, 'gzip-store');
  await cli('--store', gzipStore, 'load', '-i', gzipped);
  assert.equal(storeManifest(gzipStore, 'app:2').manifest.config.digest, id);
  assert.deepEqual(await unpacked(gzipStore, 'app:2', join(source.dir, 'gzip-check')), describeTree(source.rootTwo));

  const zstd = join(source.dir, 'zstd.tar');
  await cli('--store', store, 'save', 'app:2', '--compression', 'zstd', '--format', 'oci-archive', '-o', zstd);
  const zstdStore = join(source.dir, 'zstd-store');
  await cli('--store', zstdStore, 'load', '-i', `oci-archive:${zstd}`);
  const zstdManifest = storeManifest(zstdStore, 'app:2').manifest;
  assert.equal(zstdManifest.config.digest, id);
  assert.deepEqual(zstdManifest.layers.map((layer) => layer.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.oci.image.layer.v1.tar+zstd']);
  // keep: zstd layers become plain tars in a docker archive, the same blobs as the original load.
  const back = join(source.dir, 'from-zstd.tar');
  await cli('--store', zstdStore, 'save', 'app:2', '-o', back);
  assert.deepEqual((JSON.parse(await skopeo('inspect', `docker-archive:${back}`)) as { Layers: string[] }).Layers, diffIds);

  const legacy = join(source.dir, 'legacy.tar');
  await cli('--store', store, 'save', 'app:1', 'app:2', '--format', 'docker-legacy', '-o', legacy);
  assert.deepEqual(JSON.parse(await skopeo('inspect', '--config', `docker-archive:${legacy}:app:2`)), storeConfig(store, 'app:2'));
  const legacyStore = join(source.dir, 'legacy-store');
  assert.equal(await cli('--store', legacyStore, 'load', '-i', legacy), 'Loaded image: app:1\nLoaded image: app:2\n');
  assert.equal(storeManifest(legacyStore, 'app:1').manifest.config.digest, storeManifest(store, 'app:1').manifest.config.digest);

  const piped = await rootfs(['--store', store, 'save', 'app:1']);
  assert.equal(piped.code, 0, piped.stderr);
  const pipedStore = join(source.dir, 'piped-store');
  const loaded = await rootfs(['--store', pipedStore, 'load'], { input: piped.stdout });
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.equal(loaded.stdout.toString(), 'Loaded image: app:1\n');
  assert.equal(storeManifest(pipedStore, 'app:1').digest, storeManifest(store, 'app:1').digest);
});

test('save refuses what it cannot do, leaving no output behind', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await runOk(process.execPath, [cliPath, '--store', store, 'gc']);
  const missing = await rootfs(['--store', store, 'save', 'nothing:here', '-o', join(dir, 'out.tar')]);
  assert.equal(missing.code, 4, missing.stderr);
  assert.match(missing.stderr, /no such image: nothing:here/);
  const badFormat = await rootfs(['--store', store, 'save', 'x', '--format', 'zip', '-o', join(dir, 'out.tar')]);
  assert.equal(badFormat.code, 2);
  const conflict = await rootfs(['--store', store, 'save', 'x', '--format', 'oci', '-o', `docker-archive:${join(dir, 'out.tar')}`]);
  assert.equal(conflict.code, 2);
  assert.deepEqual(readdirSync(dir), ['store']);
  const notLayout = join(dir, 'plain');
  mkdirSync(notLayout);
  writeFileSync(join(notLayout, 'file'), 'mine');
  const refusedDir = await rootfs(['--store', store, 'load', '-i', `oci:${notLayout}`]);
  assert.equal(refusedDir.code, 3, refusedDir.stderr);
  assert.match(refusedDir.stderr, /index\.json: missing: not an OCI image layout/);
});

test('save into an existing layout whose index.json is damaged is refused before anything is written into it', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  writeFileSync(join(dir, 'root.tar'), layerTar({ 'etc/hostname': 'box\n' }));
  await runOk(process.execPath, [cliPath, '--store', store, 'import', '-q', join(dir, 'root.tar'), 'app:1']);
  const layout = join(dir, 'layout');
  await runOk(process.execPath, [cliPath, '--store', store, 'save', 'app:1', '-o', `oci:${layout}:one`]);
  writeFileSync(join(layout, 'index.json'), '{"schemaVersion":2,"manifests":[{"bad":1}]}');
  const before = readdirSync(join(layout, 'blobs', 'sha256')).sort();
  await runOk(process.execPath, [cliPath, '--store', store, 'import', '-q', '--change', 'ENV X=1', join(dir, 'root.tar'), 'app:2']);
  const refused = await rootfs(['--store', store, 'save', 'app:2', '-o', `oci:${layout}:two`]);
  assert.equal(refused.code, 3, refused.stderr);
  assert.equal(refused.stderr, `rootfs: ${layout}/index.json: manifests[0]: descriptor without a mediaType\n`);
  assert.deepEqual(readdirSync(join(layout, 'blobs', 'sha256')).sort(), before, 'no blob was added');
  assert.deepEqual(readdirSync(layout).sort(), ['blobs', 'index.json', 'oci-layout']);
});
