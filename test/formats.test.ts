/**
 * Archive addressing and detection, hand-built archives of every layout
 * loading, and bad input: each refused with one line naming the member,
 * nothing tagged (index.json byte-identical), no temp file left.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../src/oci/digest.js';
import { MediaType, type Index } from '../src/oci/types.js';
import { makeTempDir, rootfs } from './helpers.js';
import { dockerClassicMembers, dockerHybridMembers, makeImage, makeIndex, makeLayer, ociMembers, type TarMember, tarOf } from './fixtures.js';

const base = makeLayer({ 'etc/hostname': 'fixture\n', 'bin/sh': '#!sh\n' });
const app = makeLayer({ 'app/run': 'run\n' }, 'gzip');
const image = makeImage([base, app]);

async function load(t: import('node:test').TestContext, archive: Buffer | string, args: string[] = []): Promise<{ store: string; code: number; stdout: string; stderr: string }> {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  let input: string;
  if (typeof archive === 'string') input = archive;
  else {
    input = join(dir, 'archive.tar');
    writeFileSync(input, archive);
  }
  const result = await rootfs(['--store', store, 'load', '-i', input, ...args]);
  return { store, code: result.code, stdout: result.stdout.toString(), stderr: result.stderr };
}

function tags(store: string): Record<string, string> {
  const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as Index;
  return Object.fromEntries(index.manifests.map((entry) => [entry.annotations?.['org.opencontainers.image.ref.name'] ?? '', entry.digest]));
}

test('a hand-built Docker 25+ archive (OCI layout + manifest.json) loads, manifests kept byte for byte', async (t) => {
  const { store, code, stdout, stderr } = await load(t, tarOf(dockerHybridMembers([{ image, tags: ['hand:25'] }])));
  assert.equal(code, 0, stderr);
  assert.equal(stdout, 'Loaded image: hand:25\n');
  assert.deepEqual(tags(store), { 'hand:25': image.manifestDescriptor.digest });
  assert.deepEqual(readFileSync(join(store, 'blobs/sha256', image.configDigest.slice(7))), image.config);
});

test('a hand-built classic archive loads with its symlinked shared layer, layers kept as they were', async (t) => {
  const other = makeImage([base], { label: 'other' });
  const archive = tarOf(dockerClassicMembers([{ image, tags: ['classic:1', 'classic:alias'] }, { image: other, tags: ['other:1'] }]));
  const { store, code, stdout, stderr } = await load(t, archive);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, 'Loaded image: classic:1\nLoaded image: classic:alias\nLoaded image: other:1\n');
  const blobs = readdirSync(join(store, 'blobs/sha256'));
  // Two layers (the shared one once), two configs, two manifests: nothing else.
  assert.equal(blobs.length, 6);
  for (const layer of [base, app]) assert.ok(blobs.includes(layer.descriptor.digest.slice(7)), 'layer stored as it was in the archive');
  const manifestDigest = tags(store)['classic:1']!;
  const manifest = JSON.parse(readFileSync(join(store, 'blobs/sha256', manifestDigest.slice(7)), 'utf8'));
  assert.equal(manifest.config.digest, image.configDigest, 'image ID (config digest) kept');
  assert.deepEqual(manifest.layers.map((layer: { mediaType: string }) => layer.mediaType), [MediaType.LayerTar, MediaType.LayerTarGzip]);
});

test('docker save | gzip on stdin loads; docker-archive:PATH:name:tag picks one image', async (t) => {
  const archive = gzipSync(tarOf(dockerClassicMembers([{ image, tags: ['a:1'] }, { image: makeImage([base], { label: 'b' }), tags: ['b:1'] }])));
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const piped = await rootfs(['--store', store, 'load'], { input: archive });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout.toString(), 'Loaded image: a:1\nLoaded image: b:1\n');
  const file = join(dir, 'a.tar.gz');
  writeFileSync(file, archive);
  const store2 = join(dir, 'store2');
  const picked = await rootfs(['--store', store2, 'load', '-i', `docker-archive:${file}:b:1`]);
  assert.equal(picked.code, 0, picked.stderr);
  assert.equal(picked.stdout.toString(), 'Loaded image: b:1\n');
  // --platform on a classic archive: the images whose config names it.
  const matching = await rootfs(['--store', join(dir, 'store3'), 'load', '-i', file, '--platform', 'linux/amd64']);
  assert.equal(matching.stdout.toString(), 'Loaded image: a:1\nLoaded image: b:1\n', matching.stderr);
  const none = await rootfs(['--store', join(dir, 'store4'), 'load', '-i', file, '--platform', 'linux/arm64']);
  assert.equal(none.code, 4, none.stderr);
  assert.match(none.stderr, /no manifest for platform linux\/arm64\/v8 \(the archive has linux\/amd64\); choose one with --platform/);
});

test('an untagged image loads by ID, as docker prints it', async (t) => {
  const { store, code, stdout, stderr } = await load(t, tarOf(ociMembers([{ descriptor: image.manifestDescriptor }], [image])));
  assert.equal(code, 0, stderr);
  assert.equal(stdout, `Loaded image ID: ${image.configDigest}\n`);
  const listed = await rootfs(['--store', store, 'inspect', image.configDigest]);
  assert.equal(listed.code, 0, listed.stderr);
});

test('a multi-platform index is kept as an index, or narrowed by --platform', async (t) => {
  const arm = makeImage([makeLayer({ 'arch': 'arm64\n' })], { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } });
  // BuildKit's provenance beside the platforms: in-toto JSON "layers", not tars.
  const statement = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}');
  const provenance = makeImage([{ blob: statement, diffId: sha256(statement), descriptor: { mediaType: 'application/vnd.in-toto+json', digest: sha256(statement), size: statement.length } }], { platform: { architecture: 'unknown', os: 'unknown' } });
  provenance.manifestDescriptor.annotations = { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': image.manifestDescriptor.digest };
  // A platform whose manifest came along but not its layer (containerd keeps every platform's manifest).
  const partial = makeImage([makeLayer({ 'arch': 's390x\n' })], { platform: { architecture: 's390x', os: 'linux' } });
  const partialManifest = { path: `blobs/sha256/${partial.manifestDescriptor.digest.slice(7)}`, body: partial.manifest };
  const index = makeIndex([image, arm, provenance, partial]);
  const archive = tarOf(ociMembers([{ descriptor: index.descriptor, refName: 'multi:1' }], [image, arm, provenance], [index.member, partialManifest]));
  const whole = await load(t, archive);
  assert.equal(whole.code, 0, whole.stderr);
  assert.deepEqual(tags(whole.store), { 'multi:1': index.descriptor.digest });
  // Saved again, the index travels whole, attestation included, and loads to the same digest.
  const saved = join(makeTempDir(t), 'multi.tar');
  const save = await rootfs(['--store', whole.store, 'save', 'multi:1', '--format', 'oci-archive', '-o', saved]);
  assert.equal(save.code, 0, save.stderr);
  const again = await load(t, saved);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(tags(again.store), { 'multi:1': index.descriptor.digest });
  const narrowed = await load(t, archive, ['--platform', 'linux/arm64']);
  assert.equal(narrowed.code, 0, narrowed.stderr);
  assert.deepEqual(tags(narrowed.store), { 'multi:1': arm.manifestDescriptor.digest });
});

// ------------------------------------------------------------------ bad input

/** Loads `archive` into a store that already holds one image; asserts the refusal and that the store is untouched. */
async function refused(t: import('node:test').TestContext, archive: Buffer, member: RegExp): Promise<string> {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const seed = join(dir, 'seed.tar');
  writeFileSync(seed, tarOf(dockerHybridMembers([{ image: makeImage([base], { label: 'seed' }), tags: ['seed:1'] }])));
  const seeded = await rootfs(['--store', store, 'load', '-i', seed]);
  assert.equal(seeded.code, 0, seeded.stderr);
  const before = readFileSync(join(store, 'index.json'));
  const blobsBefore = readdirSync(join(store, 'blobs/sha256')).sort();
  const input = join(dir, 'bad.tar');
  writeFileSync(input, archive);
  const result = await rootfs(['--store', store, 'load', '-i', input]);
  assert.equal(result.code, 3, `exit code 3 (bad input), got ${result.code}: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0]!, /^rootfs: /);
  assert.match(lines[0]!, member);
  assert.equal(result.stdout.length, 0, 'nothing reported loaded');
  assert.deepEqual(readFileSync(join(store, 'index.json')), before, 'index.json byte-identical: nothing tagged');
  assert.deepEqual(readdirSync(join(store, '.rootfs/tmp')), [], 'no temp file left');
  assert.deepEqual(readdirSync(join(store, 'blobs/sha256')).sort(), blobsBefore, 'no blob added');
  return lines[0]!;
}

const hybrid = (): TarMember[] => dockerHybridMembers([{ image, tags: ['bad:1'] }]);
const layerName = (layer: typeof base): string => `blobs/sha256/${layer.descriptor.digest.slice(7)}`;

test('bad input: truncated archive', async (t) => {
  const whole = tarOf(hybrid());
  const members = hybrid();
  // Cut inside the body of the first layer blob.
  const offset = tarOf(members.slice(0, members.findIndex((m) => m.path === layerName(base)) + 1)).length - 1024 - 512;
  const line = await refused(t, whole.subarray(0, offset), new RegExp(`${layerName(base)}: truncated`));
  assert.match(line, /bad\.tar: /);
});

test('bad input: manifest.json pointing at a missing file', async (t) => {
  const members = dockerClassicMembers([{ image, tags: ['bad:1'] }]);
  const manifest = members.find((m) => m.path === 'manifest.json')!;
  const entries = JSON.parse(manifest.body!.toString());
  entries[0].Layers[1] = 'missing/layer.tar';
  manifest.body = Buffer.from(JSON.stringify(entries));
  await refused(t, tarOf(members), /manifest\.json: refers to "missing\/layer\.tar", which is not in the archive/);
});

test('bad input: layer digest mismatch', async (t) => {
  const members = hybrid();
  const layer = members.find((m) => m.path === layerName(base))!;
  layer.body = Buffer.from(layer.body!);
  layer.body[600] ^= 1;
  await refused(t, tarOf(members), new RegExp(`${layerName(base)}: digest mismatch`));
});

test('bad input: diff_id mismatch', async (t) => {
  const wrong = makeImage([base, app], { diffIds: [base.diffId, base.diffId] });
  await refused(t, tarOf(dockerClassicMembers([{ image: wrong, tags: ['bad:1'] }])), /layer\.tar: diff_id sha256:[0-9a-f]{64} does not match rootfs\.diff_ids\[1\]/);
});

test('bad input: ../ member name', async (t) => {
  await refused(t, tarOf([...hybrid().slice(0, 3), { path: '../escape', body: 'x' }, ...hybrid().slice(3)]), /member '\.\.\/escape': '\.\.' component/);
});

test('bad input: malformed JSON', async (t) => {
  const members = hybrid().map((m) => (m.path === 'index.json' ? { ...m, body: Buffer.from('{"schemaVersion": 2, "manifests": [') } : m));
  await refused(t, tarOf(members), /index\.json: malformed JSON/);
});

test('bad input: unknown layer media type (a label its bytes contradict is read as they say: media-type.test.ts)', async (t) => {
  const unknown = makeImage([{ ...base, descriptor: { ...base.descriptor, mediaType: 'application/x-mystery' } }]);
  await refused(t, tarOf(ociMembers([{ descriptor: unknown.manifestDescriptor, refName: 'bad:1' }], [unknown])), /unsupported layer media type "application\/x-mystery"/);
});

test('bad input: duplicate member', async (t) => {
  const members = hybrid();
  await refused(t, tarOf([...members, members.find((m) => m.path === 'manifest.json')!]), /manifest\.json: duplicate member/);
});

test('bad input: config that does not hash to its classic name', async (t) => {
  const members = dockerClassicMembers([{ image, tags: ['bad:1'] }]);
  const config = members.find((m) => m.path === `${image.configDigest.slice(7)}.json`)!;
  config.body = Buffer.from(config.body!.toString().replace('"yes"', '"no!"'));
  assert.notEqual(sha256(config.body), image.configDigest);
  await refused(t, tarOf(members), /\.json: digest mismatch/);
});

test('bad input: a layer whose tar names escape the root, or that is no tar at all, though its digests match', async (t) => {
  const escaping = makeLayer({ 'etc/ok': 'ok', '../../etc/cron.d/evil': '* * * * * root sh\n' }, 'gzip');
  const hostile = makeImage([base, escaping]);
  await refused(t, tarOf(dockerHybridMembers([{ image: hostile, tags: ['bad:1'] }])), new RegExp(`${layerName(escaping)}: .*member '\\.\\./\\.\\./etc/cron\\.d/evil': '\\.\\.' component`));

  const junk = Buffer.from('this is not a tar archive, though it hashes fine\n');
  const notTar = { blob: junk, diffId: sha256(junk), descriptor: { mediaType: MediaType.LayerTar, digest: sha256(junk), size: junk.length } };
  const line = await refused(t, tarOf(dockerClassicMembers([{ image: makeImage([base, notTar]), tags: ['bad:1'] }])), /layer\.tar: /);
  assert.match(line, /truncated|bad|checksum|not a tar/i);
});

test('copy from an archive: a layer whose diff_id its config contradicts is refused however it goes (as it is, or recompressed), and nothing is written', async (t) => {
  const dir = makeTempDir(t);
  const wrong = makeImage([base, app], { diffIds: [base.diffId, base.diffId] });
  const archive = join(dir, 'lying.tar');
  writeFileSync(archive, tarOf(ociMembers([{ descriptor: wrong.manifestDescriptor, refName: 'bad:1' }], [wrong])));
  for (const compression of ['keep', 'gzip', 'zstd']) {
    const output = join(dir, `out-${compression}.tar`);
    const result = await rootfs(['--store', join(dir, 'unused'), 'copy', '--compression', compression, `oci-archive:${archive}`, `oci-archive:${output}`]);
    assert.equal(result.code, 3, `--compression ${compression}: ${result.stderr}`);
    assert.match(result.stderr, /diff_id sha256:[0-9a-f]{64} does not match rootfs\.diff_ids\[1\]/);
    assert.equal(readdirSync(dir).filter((name) => name.startsWith('out-')).length, 0, 'no output is left');
  }
});
