/**
 * Sub-layer deltas (docs/formats.md, "Delta layers"): the patch codec on its
 * own, then save and load around it: a layer the site lacks travels as a
 * patch against one it holds and is rebuilt there to the same blob, so
 * manifest digests, and signatures over them, survive the transfer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test, type TestContext } from 'node:test';
import { compressorRecipe, createRecipeCompressor, layerRecipe, layerRecipeAnnotations } from '../src/compress/index.js';
import { InvalidInputError } from '../src/errors.js';
import { sha256 } from '../src/oci/digest.js';
import { blobMemberName } from '../src/oci/layout.js';
import { MediaType, type Index } from '../src/oci/types.js';
import { resolveImage } from '../src/store/resolve.js';
import { deltaLayers, withDeltaLayers, type DeltaEntry } from '../src/transports/delta-annotation.js';
import { CHUNK, decodeDelta, encodeDelta, spoolReference, WINDOW } from '../src/transports/delta-codec.js';
import { cliPath, libdeflateBuilt, makeTempDir, requireTools, rootfs, runOk, waitFor, watching } from './helpers.js';
import { makeImage, putImage, snapshot, tarOf, withStore, type FixtureLayer, type TarMember } from './fixtures.js';
import { writeKeys } from './trust-fixture.js';

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function path(file: string): string {
  return resolve(file);
}

/** A tree of text files, some large enough that the tar spans several chunks. */
function tree(count: number, seed: string): TarMember[] {
  const members: TarMember[] = [{ path: 'usr/' }];
  for (let i = 0; i < count; i++) {
    const body = i % 7 === 0 ? randomLines(`${seed}${i}`, 400_000) : `file ${i} of the tree\n`.repeat(20);
    members.push({ path: `usr/share/f${String(i).padStart(4, '0')}`, body });
  }
  return members;
}

/** Incompressible on its own (so a patch has to find it in the reference), the same for the same seed. */
function randomLines(seed: string, size: number): Buffer {
  const parts: Buffer[] = [];
  let state = createHash('sha256').update(seed).digest();
  for (let length = 0; length < size; length += state.length) {
    parts.push(state);
    state = createHash('sha256').update(state).digest();
  }
  return Buffer.concat(parts).subarray(0, size);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

test('the codec: a tar several chunks long with members inserted and changed rebuilds bit-exact from a patch a fraction of its size', async (t) => {
  const work = makeTempDir(t);
  const old = tree(300, 'a');
  // An update: new members early on (so everything after shifts), a few changed, one removed.
  const updated = [...old.slice(0, 10), { path: 'usr/share/a-new-package', body: randomBytes(300_000) }, ...old.slice(10, 200).filter((_, i) => i !== 50), ...old.slice(200).map((member, i) => (i % 40 === 0 ? { ...member, body: `changed ${i}\n` } : member))];
  const reference = tarOf(old);
  const target = tarOf(updated);
  assert.ok(target.length > 2 * CHUNK, 'several chunks');
  const spooled = await spoolReference(Readable.from([reference]), join(work, 'ref.tar'), 'reference');
  assert.equal(spooled.size, reference.length);
  assert.equal(spooled.diffId, `sha256:${createHash('sha256').update(reference).digest('hex')}`);
  const delta = await collect(encodeDelta(spooled, Readable.from([target.subarray(0, 1000), target.subarray(1000)]), 'target'));
  // The new package's 300 kB are new; the rest is found in the reference.
  assert.ok(delta.length < 400_000, `delta ${delta.length} bytes of ${target.length}`);
  const deltaPath = join(work, 'delta');
  writeFileSync(deltaPath, delta);
  assert.ok((await collect(decodeDelta(deltaPath, spooled, 'delta'))).equals(target), 'rebuilt bit-exact');

  // A flipped byte in a frame, a truncation, another reference: refused, naming the delta.
  const refused = async (bytes: Buffer, against = spooled): Promise<void> => {
    writeFileSync(deltaPath, bytes);
    await assert.rejects(collect(decodeDelta(deltaPath, against, 'the delta')), (err: unknown) => err instanceof InvalidInputError && err.message.startsWith('the delta: not a rootfs layer delta'));
  };
  const flipped = Buffer.from(delta);
  flipped[delta.length - 100]! ^= 1;
  await refused(flipped);
  await refused(delta.subarray(0, delta.length - 30));
  const other = await spoolReference(Readable.from([tarOf(tree(300, 'b'))]), join(work, 'other.tar'), 'other');
  await refused(delta, other);
});

test('the codec: a reference larger than a window, written by another tool in another order (./ names), still patches member by member', async (t) => {
  const work = makeTempDir(t);
  const files = Array.from({ length: 100 }, (_, i) => ({ path: `usr/lib/f${i}`, body: randomLines(`big${i}`, 400_000) }));
  const reference = tarOf([{ path: './usr/' }, ...files.map((file) => ({ ...file, path: `./${file.path}` }))]);
  const target = tarOf([{ path: 'usr/' }, ...[...files].reverse().map((file, i) => (i === 10 ? { ...file, body: randomLines('changed', 400_000) } : file))]);
  assert.ok(reference.length > 2 * WINDOW, 'larger than a window');
  const spooled = await spoolReference(Readable.from([reference]), join(work, 'ref.tar'), 'reference');
  const delta = await collect(encodeDelta(spooled, Readable.from([target]), 'target'));
  // The changed file's 400 kB are new; the other 39.6 MB are found where their paths are.
  assert.ok(delta.length < 600_000, `delta ${delta.length} bytes of ${target.length}`);
  const deltaPath = join(work, 'delta');
  writeFileSync(deltaPath, delta);
  assert.ok((await collect(decodeDelta(deltaPath, spooled, 'delta'))).equals(target), 'rebuilt bit-exact');
});

// ------------------------------------------------------------------ save and load

interface Pair {
  work: string;
  sender: string;
  site: string;
  have: string;
}

async function ok(args: string[]): Promise<string> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return result.stderr;
}

/**
 * A sender with app:1 and app:2 (a re-capture after an update, imported in
 * full, not with --base) and a site that holds app:1 (loaded from a full
 * archive) and has written its have file. `big` adds incompressible bytes to
 * both trees, so that a load takes long enough to be interrupted.
 */
async function pair(t: TestContext, big = 0): Promise<Pair> {
  const work = makeTempDir(t);
  const old = [...tree(60, 'a'), ...(big > 0 ? [{ path: 'usr/big', body: randomLines('big', big) }] : [])];
  const updated = [...old.slice(0, 5), { path: 'usr/share/a-new-package', body: randomLines('new', 50_000) }, ...old.slice(5).map((member, i) => (i % 20 === 0 ? { ...member, body: `changed ${i}\n` } : member))];
  writeFileSync(join(work, 'old.tar'), tarOf(old));
  writeFileSync(join(work, 'new.tar'), tarOf(updated));
  const pairing = { work, sender: join(work, 'sender'), site: join(work, 'site'), have: join(work, 'have.json') };
  await ok(['--store', pairing.sender, 'import', join(work, 'old.tar'), 'app:1']);
  await ok(['--store', pairing.sender, 'import', join(work, 'new.tar'), 'app:2']);
  await ok(['--store', pairing.sender, 'save', 'app:1', '-o', join(work, 'app1.tar')]);
  await ok(['--store', pairing.site, 'load', '-i', join(work, 'app1.tar')]);
  await ok(['--store', pairing.site, 'have', '-o', pairing.have]);
  return pairing;
}

async function manifestDigest(store: string, ref: string): Promise<string> {
  return withStore(store, async (opened) => (await resolveImage(opened, ref)).manifestDescriptor.digest);
}

async function archiveMembers(archive: string): Promise<string[]> {
  return (await runOk('tar', ['-tf', archive])).stdout.toString().trim().split('\n');
}

function deltaDocument(dir: string): { index: Index; entry: DeltaEntry } {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
  const entries = deltaLayers(index, 'index.json');
  assert.equal(entries.size, 1);
  return { index, entry: [...entries.values()][0]! };
}

test('a re-capture travels as a delta a fraction of its size and is rebuilt bit-exact: same manifest digest, the signature made before the save verifies, and a save at the site gives the full archive', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const { work, sender, site, have } = await pair(t);
  const keys = writeKeys(work, 'site');
  const full = join(work, 'full.tar');
  const delta = join(work, 'delta.tar');
  await ok(['--store', sender, 'save', 'app:2', '--sign', keys.key, '-o', full]);
  const saved = await ok(['--store', sender, 'save', 'app:2', '--exclude-have', have, '-o', delta]);
  const layer = (await withStore(sender, (store) => resolveImage(store, 'app:2'))).manifest.layers[0]!;
  assert.match(saved, new RegExp(`layer ${layer.digest.slice(7, 19)} \\(.*\\) sent as a delta of .* against `));
  assert.ok(!(await archiveMembers(delta)).includes(blobMemberName(layer.digest)), 'the layer itself is not in the archive');
  assert.ok(statSync(delta).size * 10 < statSync(full).size, `delta archive ${statSync(delta).size} bytes, full ${statSync(full).size}`);

  const dry = await rootfs(['load', '--dry-run', '-i', delta]);
  assert.equal(dry.code, 0, dry.stderr);
  const reference = (await withStore(site, (store) => resolveImage(store, 'app:1'))).manifest.layers[0]!;
  assert.match(dry.stdout.toString(), new RegExp(`^layer ${layer.digest} \\(.*\\): as a delta of .* against layer ${reference.digest}$`, 'm'));

  const loaded = await ok(['--store', site, 'load', '-i', delta, '--require-signed', keys.pub]);
  assert.match(loaded, /1 layer \(.*\) rebuilt from deltas against layers in the store, to the same bytes/);
  assert.equal(await manifestDigest(site, 'app:2'), await manifestDigest(sender, 'app:2'));
  await ok(['--store', site, 'verify', 'app:2', '--key', keys.pub]);
  const again = join(work, 'again.tar');
  await ok(['--store', site, 'save', 'app:2', '-o', again]);
  assert.ok(readFileSync(again).equals(readFileSync(full)), 'the site saves the archive the sender would have sent whole');

  // Cut into parts for removable media and joined into load, or copied into a store: rebuilt the same.
  for (const [label, args] of [['parts', ['load', '-i', join(work, 'parts')]], ['copy', ['copy', `docker-archive:${delta}`, 'rootfs:app:2']]] as const) {
    const other = join(work, `site-${label}`);
    await ok(['--store', other, 'load', '-i', join(work, 'app1.tar')]);
    if (label === 'parts') await ok(['split', delta, '--size', '64K', '--force', '-o', join(work, 'parts')]);
    await ok(['--store', other, ...args]);
    assert.equal(await manifestDigest(other, 'app:2'), await manifestDigest(sender, 'app:2'), label);
  }

  // --since names what the site holds instead of a have file: the same delta, into an oci-archive too.
  const since = join(work, 'since.tar');
  assert.match(await ok(['--store', sender, 'save', 'app:2', '--since', 'app:1', '--format', 'oci-archive', '-o', since]), /sent as a delta of /);
  await ok(['--store', site, 'rmi', 'app:2']);
  await ok(['--store', site, 'load', '-i', since]);
  assert.equal(await manifestDigest(site, 'app:2'), await manifestDigest(sender, 'app:2'));

  // And into an oci: layout, whose reader reaches the delta blob through index.json's annotation.
  const layout = join(work, 'layout');
  assert.match(await ok(['--store', sender, 'save', 'app:2', '--exclude-have', have, '-o', `oci:${layout}`]), /sent as a delta of /);
  assert.equal(existsSync(join(layout, blobMemberName(layer.digest))), false, 'the layer itself is not in the layout');
  const { entry } = deltaDocument(layout);
  assert.ok(existsSync(join(layout, blobMemberName(entry.delta))), 'the delta blob is');
  await ok(['--store', site, 'rmi', 'app:2']);
  assert.match(await ok(['--store', site, 'load', '-i', `oci:${layout}`]), /1 layer \(.*\) rebuilt from deltas/);
  assert.equal(await manifestDigest(site, 'app:2'), await manifestDigest(sender, 'app:2'));
});

test('whole layers: --no-delta, a site whose have file lacks the encoder, a layer gzipped elsewhere, a recipe that does not reproduce', async (t) => {
  if (!requireTools(t, 'tar', 'gzip')) return;
  const { work, sender, site, have } = await pair(t);
  const layer = (await withStore(sender, (store) => resolveImage(store, 'app:2'))).manifest.layers[0]!;
  const wholeIn = async (args: string[], reason: RegExp | undefined): Promise<void> => {
    const archive = join(work, 'whole.tar');
    const stderr = await ok(['--store', sender, 'save', 'app:2', ...args, '-o', archive]);
    if (reason) assert.match(stderr, reason);
    assert.ok((await archiveMembers(archive)).includes(blobMemberName(layer.digest)), args.join(' '));
    await ok(['--store', site, 'load', '-i', archive]);
    assert.equal(await manifestDigest(site, 'app:2'), await manifestDigest(sender, 'app:2'));
    await ok(['--store', site, 'rmi', 'app:2']);
  };
  await wholeIn(['--exclude-have', have, '--no-delta'], undefined);
  const lacking = join(work, 'lacking.json');
  writeFileSync(lacking, JSON.stringify({ ...JSON.parse(readFileSync(have, 'utf8')), encoders: ['none'] }));
  await wholeIn(['--exclude-have', lacking], /sent whole: the site cannot run gzip\//);

  // GNU gzip's bytes: no recipe of ours makes them, so they travel as they are; and one that claims our recipe falsely is caught here.
  const gnu = async (tarFile: string, annotations?: Record<string, string>): Promise<FixtureLayer> => {
    const tar = readFileSync(join(work, tarFile));
    const blob = (await runOk('gzip', ['-n', '-9', '-c'], { input: tar })).stdout;
    return { blob, diffId: sha256(tar), descriptor: { mediaType: MediaType.LayerTarGzip, digest: sha256(blob), size: blob.length, ...(annotations ? { annotations } : {}) } };
  };
  await withStore(sender, async (store) => {
    await putImage(store, makeImage([await gnu('old.tar')]), 'vendor:1');
    await putImage(store, makeImage([await gnu('new.tar')]), 'vendor:2');
    await putImage(store, makeImage([await gnu('new.tar', layerRecipeAnnotations(compressorRecipe('gzip', 9)))]), 'forged:2');
  });
  await ok(['--store', sender, 'save', 'vendor:1', '-o', join(work, 'vendor1.tar')]);
  await ok(['--store', site, 'load', '-i', join(work, 'vendor1.tar')]);
  await ok(['--store', site, 'have', '-o', have]);
  for (const [ref, reason] of [['vendor:2', /sent whole: no encoder recorded for its gzip bytes/], ['forged:2', /sent whole: gzip\/.* level 9 does not reproduce its bytes/]] as const) {
    const archive = join(work, 'vendor.tar');
    assert.match(await ok(['--store', sender, 'save', ref, '--exclude-have', have, '-o', archive]), reason);
    const vendorLayer = (await withStore(sender, (store) => resolveImage(store, ref))).manifest.layers[0]!;
    assert.ok((await archiveMembers(archive)).includes(blobMemberName(vendorLayer.digest)), ref);
    await ok(['--store', site, 'load', '-i', archive]);
    assert.equal(await manifestDigest(site, ref), await manifestDigest(sender, ref));
  }
});

test('a delta that does not rebuild the layer, or whose reference the site lacks, is refused (exit 3, naming it) with the store unchanged', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const { work, sender, site, have } = await pair(t);
  const archive = join(work, 'delta.tar');
  await ok(['--store', sender, 'save', 'app:2', '--exclude-have', have, '-o', archive]);
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  await runOk('tar', ['-xf', archive, '-C', unpacked]);
  const names = await archiveMembers(archive);
  const { index, entry } = deltaDocument(unpacked);

  /** The archive again, with the delta blob's bytes and the annotation's entry as `change` makes them. */
  const remade = async (label: string, change: (delta: Buffer, entry: DeltaEntry) => { delta: Buffer; entry: DeltaEntry }): Promise<string> => {
    const dir = join(work, label);
    await runOk('cp', ['-a', unpacked, dir]);
    const changed = change(readFileSync(join(dir, blobMemberName(entry.delta))), structuredClone(entry));
    rmSync(join(dir, blobMemberName(entry.delta)));
    const digest = sha256(changed.delta);
    writeFileSync(join(dir, blobMemberName(digest)), changed.delta);
    const next = { ...changed.entry, delta: digest, deltaSize: changed.delta.length };
    writeFileSync(join(dir, 'index.json'), JSON.stringify(withDeltaLayers({ ...index, annotations: {} }, [next])));
    const out = join(work, `${label}.tar`);
    await runOk('tar', ['--no-recursion', '-cf', out, '-C', dir, ...names.map((name) => (name === blobMemberName(entry.delta) ? blobMemberName(digest) : name))]);
    return out;
  };
  const before = snapshot(site);
  const refused = async (path: string, message: RegExp): Promise<void> => {
    const result = await rootfs(['--store', site, 'load', '-i', path]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, message);
    assert.deepEqual(snapshot(site), before, 'the store is as it was');
  };
  const flipped = await remade('flipped', (delta, same) => {
    const bytes = Buffer.from(delta);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    return { delta: bytes, entry: same };
  });
  await refused(flipped, new RegExp(`^rootfs: ${escape(path(flipped))}: blobs/sha256/[0-9a-f]{64}: not a rootfs layer delta: `));
  const level = await remade('level', (delta, wrong) => ({ delta, entry: { ...wrong, recipe: { ...wrong.recipe, level: wrong.recipe.level === 9 ? 8 : 9 } } }));
  await refused(level, new RegExp(`^rootfs: ${escape(path(level))}: layer ${entry.layer}: digest mismatch: expected ${entry.layer}`));
  const diffId = await remade('diffid', (delta, wrong) => ({ delta, entry: { ...wrong, diffId: `sha256:${'0'.repeat(64)}` } }));
  await refused(diffId, new RegExp(`layer ${entry.layer}: rebuilt from its delta, the tar has diff_id ${entry.diffId}, not sha256:0{64}`));

  // The site let its app:1 go: the reference is named, and what to do.
  await ok(['--store', site, 'rmi', 'app:1']);
  await ok(['--store', site, 'gc']);
  const gone = snapshot(site);
  const result = await rootfs(['--store', site, 'load', '-i', archive]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, new RegExp(`layer ${entry.layer}: comes as a delta against layer ${entry.reference.digest} \\(diff_id ${entry.reference.diffId}\\), which this store does not hold`));
  assert.deepEqual(snapshot(site), gone);
});

test('SIGINT while a layer is being rebuilt: exit 130, nothing kept', async (t) => {
  if (!requireTools(t, 'tar')) return;
  // 48 MB of reference to spool and patch: far longer than a signal takes to arrive.
  const { work, sender, site, have } = await pair(t, 48 << 20);
  const archive = join(work, 'delta.tar');
  await ok(['--store', sender, 'save', 'app:2', '--exclude-have', have, '-o', archive]);
  const before = snapshot(site);
  const tmp = join(site, '.rootfs', 'tmp');
  const child = spawn(process.execPath, [cliPath, '--store', site, 'load', '-i', archive], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // The rebuild's spool directory appears once the reference is about to be read.
  await waitFor('the rebuild to start', () => readdirSync(tmp).some((name) => name.startsWith('delta-')), [watching(tmp)]);
  child.kill('SIGINT');
  assert.equal(await exit, 130, stderr);
  assert.deepEqual(snapshot(site), before, 'nothing kept');
});

test('a layer rootfs writes records its recipe, and the recipe alone rebuilds its bytes from the tar (libdeflate or zlib, gzip or zstd)', async (t) => {
  const work = makeTempDir(t);
  const tar = tarOf(tree(20, 'r'));
  writeFileSync(join(work, 'layer.tar'), tar);
  const store = join(work, 'store');
  const cases: Array<{ ref: string; args: string[]; env: Record<string, string> }> = [
    { ref: 'deflate:1', args: [], env: {} },
    { ref: 'zlib:1', args: [], env: { ROOTFS_GZIP_ENCODER: 'zlib' } },
    { ref: 'zstd:1', args: ['--compression', 'zstd', '--level', '7'], env: {} },
  ];
  const encoders = new Set<string>();
  for (const { ref, args, env } of cases) {
    const result = await rootfs(['--store', store, 'import', ...args, join(work, 'layer.tar'), ref], { env });
    assert.equal(result.code, 0, result.stderr);
    const layer = (await withStore(store, (opened) => resolveImage(opened, ref))).manifest.layers[0]!;
    const recipe = layerRecipe(layer.annotations, ref.startsWith('zstd') ? 'zstd' : 'gzip');
    assert.ok(recipe, `${ref}: ${JSON.stringify(layer.annotations)}`);
    encoders.add(recipe.encoder);
    const compressor = createRecipeCompressor(recipe)!;
    const [, blob] = await Promise.all([pipeline(Readable.from([tar]), compressor), collect(compressor)]);
    assert.equal(sha256(blob), layer.digest, `${ref}: ${recipe.encoder} level ${recipe.level}`);
  }
  assert.equal(encoders.size, libdeflateBuilt() ? 3 : 2, [...encoders].join(', '));
});
