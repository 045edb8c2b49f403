/**
 * The one layer media-type policy (oci/layer-media.ts) on every path: a
 * layer whose label its bytes contradict (a plain tar labelled gzip, as
 * Docker 20.10 pushes after `docker load` of uncompressed layers, and a gzip
 * layer labelled plain) is read as its bytes say, with one warning line of
 * the same text on load, copy, pull, save and the commands that read stored
 * layers; it keeps its label and digest where it is kept as it is, and
 * --compression relabels it as what is written. A layer whose bytes are not
 * a tar is still refused (exit 3), the store as it was.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sha256 } from '../src/oci/digest.js';
import { readLayerAs } from '../src/oci/layer-media.js';
import { MediaType, type Descriptor, type Index, type Manifest } from '../src/oci/types.js';
import { dockerHybridMembers, layerTar, makeImage, makeLayer, ociMembers, snapshot, tarOf, writeMembers, type FixtureImage, type FixtureLayer } from './fixtures.js';
import { makeTempDir, requireTools, rootfs, type RunResult } from './helpers.js';
import { startRegistry } from './registry-server.js';

const plain = makeLayer({ 'etc/hello': 'plain\n' });
const gzipped = makeLayer({ 'etc/hello': 'gzipped\n' }, 'gzip');
const relabelled = (layer: FixtureLayer, mediaType: string): FixtureLayer => ({ ...layer, descriptor: { ...layer.descriptor, mediaType } });

/** The mislabelled layers, each in an image of its own, and what their warning must say on every path. */
const warning = (layer: FixtureLayer, says: string): string => `layer ${layer.descriptor.digest}: media type ${layer.descriptor.mediaType} says ${says}; read as its bytes say`;
const cases = [
  { name: 'a plain tar labelled Docker gzip', layer: relabelled(plain, MediaType.DockerLayerGzip), says: 'gzip but the layer is uncompressed' },
  { name: 'a plain tar labelled OCI tar+gzip', layer: relabelled(plain, MediaType.LayerTarGzip), says: 'gzip but the layer is uncompressed' },
  { name: 'a gzip layer labelled plain tar', layer: relabelled(gzipped, MediaType.LayerTar), says: 'uncompressed but the layer is gzip' },
].map(({ name, layer, says }) => ({ name, layer, says: warning(layer, says) }));

/** The `rootfs: warning:` lines of a run. */
function warnings(result: RunResult): string[] {
  return result.stderr.split('\n').filter((line) => line.startsWith('rootfs: warning: '));
}

/** Exit 0 and exactly one warning line: `says`, the same text whatever the path. */
function assertOneWarning(result: RunResult, says: string, what: string): void {
  assert.equal(result.code, 0, `${what}: ${result.stderr}`);
  assert.deepEqual(warnings(result), [`rootfs: warning: ${says}`], `${what}: ${result.stderr}`);
}

/** Each medium an image with a media type comes in: a Docker 25+ archive, an oci-archive, an OCI layout directory. */
function media(work: string, image: FixtureImage): Array<{ medium: string; input: string }> {
  mkdirSync(work, { recursive: true });
  const docker = join(work, 'docker.tar');
  writeFileSync(docker, tarOf(dockerHybridMembers([{ image, tags: ['app:1'] }])));
  const oci = ociMembers([{ descriptor: image.manifestDescriptor, refName: 'app:1' }], [image]);
  const archive = join(work, 'oci.tar');
  writeFileSync(archive, tarOf(oci));
  const layout = join(work, 'layout');
  writeMembers(layout, oci);
  return [
    { medium: 'docker-archive', input: docker },
    { medium: 'oci-archive', input: `oci-archive:${archive}` },
    { medium: 'oci layout', input: `oci:${layout}` },
  ];
}

function storedDigests(store: string): string[] {
  return (JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as Index).manifests.map((entry) => entry.digest);
}

/** The one image manifest an OCI layout written by save holds. */
function layoutManifest(layout: string): Manifest {
  const entry = (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index).manifests[0]!;
  return JSON.parse(readFileSync(join(layout, 'blobs/sha256', entry.digest.slice(7)), 'utf8')) as Manifest;
}

const blobOf = (layout: string, descriptor: Descriptor): Buffer => readFileSync(join(layout, 'blobs/sha256', descriptor.digest.slice(7)));

for (const { name, layer, says } of cases) {
  test(`${name}: load takes it from each medium with one warning, the manifest's digest kept; save and copy keep it and it loads again elsewhere; export, unpack, squash and import --base say it alike`, async (t) => {
    const image = makeImage([layer]);
    const work = makeTempDir(t);
    for (const { medium, input } of media(work, image)) {
      const store = join(work, `store-${medium.replace(' ', '-')}`);
      assertOneWarning(await rootfs(['--store', store, 'load', '-i', input]), says, `load ${medium}`);
      assert.ok(storedDigests(store).includes(image.manifestDescriptor.digest), `${medium}: the stored manifest is the source's`);
    }

    // The air gap: what one host took, save (keep) writes byte for byte, and another host loads.
    const store = join(work, 'store-docker-archive');
    for (const format of ['docker-archive', 'oci-archive']) {
      const archive = join(work, `saved-${format}.tar`);
      assertOneWarning(await rootfs(['--store', store, 'save', '--format', format, '-o', archive, 'app:1']), says, `save --format ${format}`);
      const elsewhere = join(work, `elsewhere-${format}`);
      assertOneWarning(await rootfs(['--store', elsewhere, 'load', '-i', archive]), says, `load of save --format ${format}`);
      assert.ok(storedDigests(elsewhere).includes(image.manifestDescriptor.digest), `${format}: the manifest's digest survived the round trip`);
    }

    // copy from a layout to an archive, then load on the other host.
    const copied = join(work, 'copied.tar');
    assertOneWarning(await rootfs(['copy', `oci:${join(work, 'layout')}:app:1`, `docker-archive:${copied}`]), says, 'copy');
    const afterCopy = join(work, 'after-copy');
    assertOneWarning(await rootfs(['--store', afterCopy, 'load', '-i', copied]), says, 'load of the copy');
    assert.ok(storedDigests(afterCopy).includes(image.manifestDescriptor.digest));

    // What reads the stored layer says it the same way.
    assertOneWarning(await rootfs(['--store', store, 'export', 'app:1', '-o', join(work, 'fs.tar')]), says, 'export');
    assertOneWarning(await rootfs(['--store', store, 'unpack', 'app:1', join(work, 'tree')]), says, 'unpack');
    assert.match(readFileSync(join(work, 'tree', 'etc', 'hello'), 'utf8'), /^(plain|gzipped)\n$/);
    assertOneWarning(await rootfs(['--store', store, 'squash', 'app:1', 'app:flat']), says, 'squash');
    const next = join(work, 'next.tar');
    writeFileSync(next, layerTar({ 'etc/hello': 'next\n' }));
    assertOneWarning(await rootfs(['--store', store, 'import', next, 'app:2', '--base', 'app:1']), says, 'import --base');
  });
}

test('save --compression: a mislabelled layer is converted from what its bytes are and labelled as what is written', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  const images = { 'plain-as-gzip:1': makeImage([cases[0]!.layer]), 'gzip-as-plain:1': makeImage([cases[2]!.layer]) };
  for (const [tag, image] of Object.entries(images)) {
    const archive = join(work, `${tag}.tar`);
    writeFileSync(archive, tarOf(dockerHybridMembers([{ image, tags: [tag] }])));
    assert.equal((await rootfs(['--store', store, 'load', '-i', archive])).code, 0);
  }
  const diffIdOf = (tag: keyof typeof images): string => images[tag].layers[0]!.diffId;

  // A plain tar labelled gzip, asked for gzip: really gzip now, and labelled so.
  const gzipLayout = join(work, 'gzip');
  assert.equal((await rootfs(['--store', store, 'save', '--compression', 'gzip', '-o', `oci:${gzipLayout}`, 'plain-as-gzip:1'])).code, 0);
  const [asGzip] = layoutManifest(gzipLayout).layers;
  assert.equal(asGzip!.mediaType, MediaType.LayerTarGzip);
  assert.equal(sha256(gunzipSync(blobOf(gzipLayout, asGzip!))), diffIdOf('plain-as-gzip:1'), 'the blob is the tar, gzipped');

  // A gzip layer labelled plain, asked for gzip: its bytes already are, so they are kept and only the label changes.
  const relabelLayout = join(work, 'relabel');
  const relabel = await rootfs(['--store', store, 'save', '--compression', 'gzip', '-o', `oci:${relabelLayout}`, 'gzip-as-plain:1']);
  assert.equal(relabel.code, 0, relabel.stderr);
  assert.match(relabel.stderr, /^relabelling layer [0-9a-f]+ as gzip \(--compression gzip\)$/m);
  const [kept] = layoutManifest(relabelLayout).layers;
  assert.deepEqual({ mediaType: kept!.mediaType, digest: kept!.digest }, { mediaType: MediaType.LayerTarGzip, digest: gzipped.descriptor.digest });

  // Asked for none: the gzip layer is decompressed by its bytes, whatever its label said.
  const noneLayout = join(work, 'none');
  assert.equal((await rootfs(['--store', store, 'save', '--compression', 'none', '-o', `oci:${noneLayout}`, 'gzip-as-plain:1'])).code, 0);
  const [asNone] = layoutManifest(noneLayout).layers;
  assert.deepEqual({ mediaType: asNone!.mediaType, digest: asNone!.digest }, { mediaType: MediaType.LayerTar, digest: diffIdOf('gzip-as-plain:1') });

  // Labelled right now: another host loads them without a word.
  for (const layout of [gzipLayout, relabelLayout, noneLayout]) {
    const loaded = await rootfs(['--store', join(work, `fresh-${layout.split('/').pop()}`), 'load', '-i', `oci:${layout}`]);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.deepEqual(warnings(loaded), [], loaded.stderr);
  }
});

test('pull → save → load: a mislabelled layer pushed to a registry comes back with one warning on each path, digests kept', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const { layer, says } = cases[0]!;
  const image = makeImage([layer]);
  const work = makeTempDir(t);
  const source = join(work, 'source');
  const archive = join(work, 'in.tar');
  writeFileSync(archive, tarOf(dockerHybridMembers([{ image, tags: ['app:1'] }])));
  assert.equal((await rootfs(['--store', source, 'load', '-i', archive])).code, 0);
  // push sends it as it is: label and bytes.
  const pushed = await rootfs(['--store', source, 'push', 'app:1', `${registry.host}/ns/app:1`]);
  assert.equal(pushed.code, 0, pushed.stderr);

  const store = join(work, 'pulled');
  assertOneWarning(await rootfs(['--store', store, 'pull', `${registry.host}/ns/app:1`, 'app:1']), says, 'pull');
  assert.ok(storedDigests(store).includes(image.manifestDescriptor.digest), 'the pulled manifest is the pushed one');
  assertOneWarning(await rootfs(['--store', join(work, 'load-docker'), 'load', '-i', `docker://${registry.host}/ns/app:1`]), says, 'load -i docker://');

  const saved = join(work, 'saved.tar');
  assertOneWarning(await rootfs(['--store', store, 'save', '-o', saved, 'app:1']), says, 'save');
  const site = join(work, 'site');
  assertOneWarning(await rootfs(['--store', site, 'load', '-i', saved]), says, 'load at the site');
  assert.ok(storedDigests(site).includes(image.manifestDescriptor.digest));
});

test('a layer whose bytes are gzip but not a tar inside is still refused (exit 3), labelled either way, the store as it was', async (t) => {
  const content = Buffer.from('this is not a tar archive, only some words\n'.repeat(20));
  const blob = gzipSync(content);
  const work = makeTempDir(t);
  const store = join(work, 'store');
  const seed = join(work, 'seed.tar');
  writeFileSync(seed, tarOf(dockerHybridMembers([{ image: makeImage([plain]), tags: ['seed:1'] }])));
  assert.equal((await rootfs(['--store', store, 'load', '-i', seed])).code, 0);
  const before = snapshot(store);
  for (const mediaType of [MediaType.LayerTarGzip, MediaType.LayerTar]) {
    const image = makeImage([{ blob, diffId: sha256(content), descriptor: { mediaType, digest: sha256(blob), size: blob.length } }]);
    for (const { medium, input } of media(join(work, mediaType.replace(/[^a-z]/g, '')), image)) {
      const result = await rootfs(['--store', store, 'load', '-i', input]);
      assert.equal(result.code, 3, `${mediaType} from ${medium}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`^rootfs: .*blobs/sha256/${sha256(blob).slice(7)}`, 'm'));
      assert.deepEqual(warnings(result), [], 'refused, not warned about');
      assert.deepEqual(snapshot(store), before, `${mediaType} from ${medium}: the store is as it was`);
    }
  }
});

test('readLayerAs: the bytes decide; a known label they contradict is one warning; a type that is not a layer type is not judged', () => {
  const layer = (mediaType: string): Descriptor => ({ mediaType, digest: plain.descriptor.digest, size: plain.descriptor.size });
  assert.deepEqual(readLayerAs(layer(MediaType.LayerTarGzip), 'gzip'), { compression: 'gzip' });
  assert.deepEqual(readLayerAs(layer(MediaType.DockerLayerTar), 'none'), { compression: 'none' });
  assert.deepEqual(readLayerAs(layer(MediaType.LayerTarZstd), 'gzip'), { compression: 'gzip', warning: `layer ${plain.descriptor.digest}: media type ${MediaType.LayerTarZstd} says zstd but the layer is gzip; read as its bytes say` });
  assert.deepEqual(readLayerAs(layer(MediaType.LayerTarGzip), 'xz'), { compression: 'xz', warning: `layer ${plain.descriptor.digest}: media type ${MediaType.LayerTarGzip} says gzip but the layer is xz; read as its bytes say` });
  assert.deepEqual(readLayerAs(layer('application/vnd.in-toto+json'), 'none'), { compression: 'none' });
});
