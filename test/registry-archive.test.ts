/**
 * save and load with a registry at either end (`-o docker://…`,
 * `-i docker://…`, `load --push HOST`), against the real docker-registry,
 * checked with skopeo.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseReference } from '../src/oci/reference.js';
import { MediaType } from '../src/oci/types.js';
import { makeTempDir, requireTools, rootfs, run, runOk } from './helpers.js';
import { remoteDigest, skopeo, startRegistry } from './registry-server.js';
import { resolveImage } from '../src/store/resolve.js';
import { buildImage, buildMultiPlatformImage, withStore } from './fixtures.js';

test('save -o docker://: one image to a named destination, several each to its own path on HOST; archive-only flags refused', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const { app, base } = await withStore(storeDir, async (store) => {
    const app = await buildImage(store, dir, { name: 'app:1.0', content: 'app\n' });
    const base = await buildImage(store, dir, { name: 'base:latest', content: 'base\n' });
    await store.tag(parseReference('registry.example:5000/team/tool:2'), base.manifest);
    return { app, base };
  });

  const one = await rootfs(['--store', storeDir, 'save', 'app:1.0', '-o', `docker://${registry.host}/ns/app:1.0`]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout.toString(), `1.0: digest: ${app.manifest.digest} size: ${app.manifest.size}\n`);
  assert.match(one.stderr, new RegExp(`The push refers to repository \\[${registry.host.replace(/\./g, '\\.')}/ns/app\\]`));
  assert.equal(await remoteDigest(`${registry.host}/ns/app:1.0`), app.manifest.digest);

  // HOST alone: each image under its own path, the registry domain dropped; the second repository mounts what the first uploaded.
  const many = await rootfs(['--store', storeDir, '--json', 'save', 'base:latest', 'registry.example:5000/team/tool:2', '-o', `docker://${registry.host}`]);
  assert.equal(many.code, 0, many.stderr);
  const json = JSON.parse(many.stdout.toString()) as { output: string; pushed: Array<{ reference: string; digest: string }> };
  assert.deepEqual(json.pushed.map(({ reference, digest }) => [reference, digest]), [
    [`${registry.host}/base:latest`, base.manifest.digest],
    [`${registry.host}/team/tool:2`, base.manifest.digest],
  ]);
  assert.equal(await remoteDigest(`${registry.host}/base:latest`), base.manifest.digest);
  assert.equal(await remoteDigest(`${registry.host}/team/tool:2`), base.manifest.digest);
  const human = await rootfs(['--store', storeDir, 'save', 'base:latest', 'registry.example:5000/team/tool:2', '-o', `docker://${registry.host}`]);
  assert.equal(human.code, 0, human.stderr);
  assert.equal(human.stdout.toString(), `latest: digest: ${base.manifest.digest} size: ${base.manifest.size}\n2: digest: ${base.manifest.digest} size: ${base.manifest.size}\n`);
  assert.equal(human.stderr.match(/Layer already exists/g)?.length, 4, human.stderr);

  const fresh = await startRegistry(t);
  const mounted = await rootfs(['--store', storeDir, 'save', 'base:latest', 'registry.example:5000/team/tool:2', '-o', `docker://${fresh.host}`]);
  assert.equal(mounted.code, 0, mounted.stderr);
  assert.equal(mounted.stderr.match(/Mounted from base/g)?.length, 2, mounted.stderr);
  assert.equal(await remoteDigest(`${fresh.host}/team/tool:2`), base.manifest.digest);

  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const result = await rootfs(['--store', storeDir, 'save', ...args]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stdout.length, 0);
  };
  await refused(['app:1.0', 'base:latest', '-o', `docker://${registry.host}/ns/both:1`], /names one image, but 2 are being saved/);
  await refused(['app:1.0', '--format', 'oci', '-o', `docker://${registry.host}/ns/oci:1`], /--format chooses an archive format/);
  await refused([app.configDigest, '-o', `docker://${registry.host}`], /has no name to push under/);
  await refused(['app:1.0', '-o', 'docker://nohost/app:1'], /'nohost' is not a registry host/);
  await refused(['app:1.0', '--tls-verify=false', '-o', join(dir, 'out.tar')], /--tls-verify applies to registries only/);
  for (const name of ['ns/both:1', 'ns/oci:1']) {
    const inspect = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/${name}`]);
    assert.match(inspect.stderr, /manifest unknown/, `${name} was not pushed`);
  }
});

test('save -o docker:// takes the archive options: --compression zstd pushes recompressed layers (same diff_ids), --since and --exclude-have are accepted', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const { app } = await withStore(storeDir, async (store) => ({
    app: await buildImage(store, dir, { name: 'app:1.0', content: 'app\n' }),
    base: await buildImage(store, dir, { name: 'base:1', content: 'base\n' }),
  }));
  const zstd = await rootfs(['--store', storeDir, 'save', 'app:1.0', '--compression', 'zstd', '-o', `docker://${registry.host}/ns/zstd:1`]);
  assert.equal(zstd.code, 0, zstd.stderr);
  const manifest = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/ns/zstd:1`)) as { layers: Array<{ mediaType: string }> };
  assert.deepEqual(manifest.layers.map((layer) => layer.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd']);
  const config = JSON.parse(await skopeo('inspect', '--config', '--tls-verify=false', `docker://${registry.host}/ns/zstd:1`)) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, [app.diffId], 'the same layers, recompressed');
  assert.notEqual(await remoteDigest(`${registry.host}/ns/zstd:1`), app.manifest.digest, 'a new manifest for the new blobs');
  const pulled = join(dir, 'pulled');
  assert.equal((await rootfs(['--store', pulled, 'pull', `${registry.host}/ns/zstd:1`, 'back:1'])).code, 0);
  assert.equal((await rootfs(['--store', pulled, 'export', 'back:1', '-o', join(dir, 'back.tar')])).code, 0);

  const have = join(dir, 'have.json');
  writeFileSync(have, (await rootfs(['--store', storeDir, 'have'])).stdout);
  for (const flags of [['--since', 'base:1'], ['--exclude-have', have]]) {
    const delta = await rootfs(['--store', storeDir, 'save', 'app:1.0', ...flags, '-o', `docker://${registry.host}/ns/delta:1`]);
    assert.equal(delta.code, 0, `${flags.join(' ')}: ${delta.stderr}`);
    assert.equal(await remoteDigest(`${registry.host}/ns/delta:1`), app.manifest.digest);
  }
});

test('load -i docker://: the same image ID as pushed, by tag, by digest (untagged) or by tag@digest; --platform picks from an index', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const source = join(dir, 'source');
  const { app, index, arm } = await withStore(source, async (store) => {
    const app = await buildImage(store, dir, { name: 'app:1.0', content: 'loaded\n' });
    return { app, ...(await buildMultiPlatformImage(store, dir, 'multi:1')) };
  });
  assert.equal((await rootfs(['--store', source, 'save', 'app:1.0', '-o', `docker://${registry.host}/ns/app:1.0`])).code, 0);
  assert.equal((await rootfs(['--store', source, 'save', 'multi:1', '-o', `docker://${registry.host}/ns/multi:1`])).code, 0);
  assert.equal(await remoteDigest(`${registry.host}/ns/multi:1`), index.digest);

  const target = join(dir, 'target');
  const byTag = await rootfs(['--store', target, 'load', '-i', `docker://${registry.host}/ns/app:1.0`]);
  assert.equal(byTag.code, 0, byTag.stderr);
  assert.equal(byTag.stdout.toString(), `Loaded image: ${registry.host}/ns/app:1.0\n`);
  assert.match(byTag.stderr, /Pull complete/);
  const json = await rootfs(['--store', target, '--json', 'load', '-i', `docker://${registry.host}/ns/app:1.0`]);
  assert.equal(json.code, 0, json.stderr);
  const loaded = JSON.parse(json.stdout.toString()) as { images: Array<{ tags: string[]; id: string; digest: string }> };
  assert.deepEqual(loaded.images, [{ tags: [`${registry.host}/ns/app:1.0`], id: app.configDigest, digest: app.manifest.digest, mediaType: MediaType.ImageManifest }]);
  const inspected = JSON.parse((await rootfs(['--store', target, '--json', 'inspect', `${registry.host}/ns/app:1.0`])).stdout.toString()) as unknown;
  assert.ok(JSON.stringify(inspected).includes(app.configDigest), 'inspect shows the pushed image ID');

  const byDigestStore = join(dir, 'by-digest');
  const byDigest = await rootfs(['--store', byDigestStore, 'load', '-i', `docker://${registry.host}/ns/app@${app.manifest.digest}`]);
  assert.equal(byDigest.code, 0, byDigest.stderr);
  assert.equal(byDigest.stdout.toString(), `Loaded image ID: ${app.configDigest}\n`);
  await withStore(byDigestStore, async (store) => {
    assert.deepEqual(await store.listImages(), [], 'no name given, none made up');
    assert.equal((await resolveImage(store, app.configDigest)).manifestDescriptor.digest, app.manifest.digest);
  });
  const pinned = await rootfs(['--store', byDigestStore, 'load', '-i', `docker://${registry.host}/ns/app:pinned@${app.manifest.digest}`]);
  assert.equal(pinned.code, 0, pinned.stderr);
  assert.equal(pinned.stdout.toString(), `Loaded image: ${registry.host}/ns/app:pinned\n`);
  await withStore(byDigestStore, async (store) => assert.equal((await resolveImage(store, `${registry.host}/ns/app:pinned`)).config.rootfs.diff_ids[0], app.diffId));

  const arm64 = await rootfs(['--store', target, '--json', 'load', '-i', `docker://${registry.host}/ns/multi:1`, '--platform', 'linux/arm64']);
  assert.equal(arm64.code, 0, arm64.stderr);
  assert.deepEqual((JSON.parse(arm64.stdout.toString()) as { images: Array<{ id: string; digest: string }> }).images.map(({ id, digest }) => [id, digest]), [[arm.configDigest, arm.manifest.digest]]);

  const noImage = await rootfs(['--store', target, 'load', '-i', `docker://${registry.host}`]);
  assert.equal(noImage.code, 2);
  assert.match(noImage.stderr, /names a registry but no image/);
  const absent = await rootfs(['--store', target, 'load', '-i', `docker://${registry.host}/ns/absent:1`]);
  assert.equal(absent.code, 4, absent.stderr);
  assert.match(absent.stderr, /fetching manifest 1: not found/);
});

test('load -i ARCHIVE --push HOST: every tag of the archive appears on HOST under its path without the registry domain; untagged images are warned about', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const source = join(dir, 'source');
  const { base, app, loose } = await withStore(source, async (store) => {
    const base = await buildImage(store, dir, { name: 'base:latest', content: 'base\n' });
    const app = await buildImage(store, dir, { name: 'registry.example:5000/ns/app:1.0', content: 'app\n' });
    await store.tag(parseReference('registry.example:5000/ns/app:stable'), app.manifest);
    const loose = await buildImage(store, dir, { name: 'loose:1', content: 'loose\n' });
    return { base, app, loose };
  });
  const archive = join(dir, 'site.tar');
  const saved = await rootfs(['--store', source, 'save', 'base:latest', 'registry.example:5000/ns/app:1.0', 'registry.example:5000/ns/app:stable', '-o', archive]);
  assert.equal(saved.code, 0, saved.stderr);

  const badHost = await rootfs(['--store', join(dir, 'untouched'), 'load', '-i', archive, '--push', 'nohost']);
  assert.equal(badHost.code, 2);
  assert.match(badHost.stderr, /--push nohost: 'nohost' is not a registry host/);
  assert.equal(badHost.stdout.length, 0, 'nothing loaded before the host was checked');

  const target = join(dir, 'target');
  const pushed = await rootfs(['--store', target, 'load', '-i', archive, '--push', registry.host]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(
    pushed.stdout.toString(),
    [
      'Loaded image: base:latest',
      'Loaded image: registry.example:5000/ns/app:1.0',
      'Loaded image: registry.example:5000/ns/app:stable',
      `latest: digest: ${base.manifest.digest} size: ${base.manifest.size}`,
      `1.0: digest: ${app.manifest.digest} size: ${app.manifest.size}`,
      `stable: digest: ${app.manifest.digest} size: ${app.manifest.size}`,
      '',
    ].join('\n'),
  );
  assert.equal(await remoteDigest(`${registry.host}/base:latest`), base.manifest.digest);
  assert.equal(await remoteDigest(`${registry.host}/ns/app:1.0`), app.manifest.digest);
  assert.equal(await remoteDigest(`${registry.host}/ns/app:stable`), app.manifest.digest);
  const tags = JSON.parse((await runOk('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/ns/app`])).stdout.toString()) as { Tags: string[] };
  assert.deepEqual(tags.Tags.sort(), ['1.0', 'stable']);

  // An image saved by ID has no name in the archive: loaded, warned about, not pushed, exit 1.
  const untaggedArchive = join(dir, 'untagged.tar');
  assert.equal((await rootfs(['--store', source, 'save', loose.configDigest, '-o', untaggedArchive])).code, 0);
  const untagged = await rootfs(['--store', join(dir, 'third'), 'load', '-i', untaggedArchive, '--push', registry.host]);
  assert.equal(untagged.code, 1, untagged.stderr);
  assert.equal(untagged.stdout.toString(), `Loaded image ID: ${loose.configDigest}\n`);
  assert.match(untagged.stderr, new RegExp(`rootfs: warning: ${loose.configDigest} has no name, so it has no repository on ${registry.host.replace(/\./g, '\\.')}: not pushed`));
  const catalog = (await (await fetch(`http://${registry.host}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.deepEqual(catalog.repositories.sort(), ['base', 'ns/app']);
});
