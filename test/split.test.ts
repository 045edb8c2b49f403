import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { InvalidInputError } from '../src/errors.js';
import { PartError, isPartSet, openPartSet, readPartManifest, type PartManifest } from '../src/split/index.js';
import { makeTempDir, requireTools, rootfs, runOk, suiteTempDir } from './helpers.js';

const MiB = 1024 * 1024;

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Pseudo-random bytes, written a MiB at a time: incompressible and never all in memory. */
function writeRandomFile(path: string, size: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    for (let left = size; left > 0; ) {
      const block = randomBytes(Math.min(MiB, left));
      writeSync(fd, block);
      hash.update(block);
      left -= block.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** What a consumer gets from openPartSet: the bytes it received before the stream ended or failed, and the failure. */
async function consume(path: string): Promise<{ bytes: number; hash: string; error?: unknown }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of (await openPartSet(path)).stream) {
      bytes += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    return { bytes, hash: hash.digest('hex') };
  } catch (error) {
    return { bytes, hash: hash.digest('hex'), error };
  }
}

describe('a 300 MB file in 64 MiB parts', () => {
  // One set shared by the steps below, which run in order: made once because 300 MB takes a while to write.
  const work = suiteTempDir('rootfs-split-');
  const original = join(work, 'image.tar');
  const dir = join(work, 'usb');
  const size = 300 * MiB + 12345;
  let originalSha = '';
  let manifest: PartManifest;

  before(() => {
    originalSha = writeRandomFile(original, size);
  });

  test('split writes five sorted parts and a manifest with every size and sha256', async () => {
    const result = await rootfs(['split', original, '--size', '64M', '-o', dir]);
    assert.equal(result.code, 0, result.stderr);
    const names = readdirSync(dir).sort();
    assert.deepEqual(names, ['image.tar.part0001', 'image.tar.part0002', 'image.tar.part0003', 'image.tar.part0004', 'image.tar.part0005', 'image.tar.parts.json']);
    manifest = await readPartManifest(join(dir, 'image.tar.parts.json'));
    assert.equal(manifest.name, 'image.tar');
    assert.equal(manifest.size, size);
    assert.equal(manifest.sha256, originalSha);
    assert.equal(manifest.partSize, 64 * MiB);
    assert.deepEqual(manifest.parts.map((part) => part.size), [64 * MiB, 64 * MiB, 64 * MiB, 64 * MiB, 44 * MiB + 12345]);
    for (const part of manifest.parts) {
      assert.equal(statSync(join(dir, part.name)).size, part.size);
      assert.equal(await fileSha256(join(dir, part.name)), part.sha256, part.name);
    }
    assert.equal(await isPartSet(dir), true);
    assert.equal(await isPartSet(work), false);
  });

  test('verify passes on the intact set', async () => {
    const result = await rootfs(['verify', dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout.toString(), /image\.tar: OK \(5 parts/);
  });

  test('one corrupted byte: verify, join and openPartSet all name that part; fixing it joins to the original', async () => {
    const bad = join(dir, 'image.tar.part0003');
    flipByte(bad, 1234567);

    const verify = await rootfs(['verify', dir]);
    assert.equal(verify.code, 3, verify.stderr);
    assert.match(verify.stderr, /1 of 5 parts bad: image\.tar\.part0003 \(sha256 mismatch\)/);
    const json = await rootfs(['verify', dir, '--json']);
    assert.equal(json.code, 3, json.stderr);
    const report = JSON.parse(json.stdout.toString()) as { parts: Array<{ name: string; status: string }>; whole: string; ok: boolean };
    assert.deepEqual(report.parts.map((part) => part.status), ['ok', 'ok', 'sha256', 'ok', 'ok']);
    assert.equal(report.ok, false);

    const out = join(work, 'joined');
    mkdirSync(out);
    const join1 = await rootfs(['join', dir, '-o', join(out, 'image.tar')]);
    assert.equal(join1.code, 3, join1.stderr);
    assert.match(join1.stderr, /part image\.tar\.part0003: sha256 mismatch/);
    assert.deepEqual(readdirSync(out), [], 'no output file and no temp file left behind');

    const read = await consume(dir);
    assert.ok(read.error instanceof PartError, String(read.error));
    assert.equal(read.error.part, 'image.tar.part0003');
    assert.equal(read.error.problem, 'sha256');
    assert.match(read.error.message, /^part image\.tar\.part0003: sha256 mismatch/);
    assert.ok(read.bytes < 3 * 64 * MiB, `the consumer got ${read.bytes} bytes: past the end of the bad part`);

    flipByte(bad, 1234567);
    const join2 = await rootfs(['join', dir, '-o', join(out, 'image.tar')]);
    assert.equal(join2.code, 0, join2.stderr);
    assert.equal(await fileSha256(join(out, 'image.tar')), originalSha);
    assert.deepEqual(readdirSync(out), ['image.tar']);
    const streamed = await consume(join(dir, 'image.tar.parts.json'));
    assert.equal(streamed.error, undefined);
    assert.equal(streamed.bytes, size);
    assert.equal(streamed.hash, originalSha);
  });

  test('a missing part is named by verify and fails openPartSet before any byte', async () => {
    const part = join(dir, 'image.tar.part0002');
    renameSync(part, join(work, 'aside'));
    try {
      const verify = await rootfs(['verify', dir]);
      assert.equal(verify.code, 3, verify.stderr);
      assert.match(verify.stderr, /image\.tar\.part0002 \(missing\)/);
      await assert.rejects(openPartSet(dir), (err: unknown) => err instanceof PartError && err.problem === 'missing' && /^part image\.tar\.part0002: missing/.test(err.message));
      const joined = await rootfs(['join', dir, '-o', join(work, 'never.tar')]);
      assert.equal(joined.code, 3, joined.stderr);
      assert.match(joined.stderr, /part image\.tar\.part0002: missing/);
      assert.equal(existsSync(join(work, 'never.tar')), false);
    } finally {
      renameSync(join(work, 'aside'), part);
    }
  });

  test('a truncated part is named with its size', async () => {
    const last = join(dir, 'image.tar.part0005');
    renameSync(last, join(work, 'whole-part'));
    try {
      writeFileSync(last, readFileSync(join(work, 'whole-part')).subarray(0, 1000));
      const verify = await rootfs(['verify', dir]);
      assert.equal(verify.code, 3, verify.stderr);
      assert.match(verify.stderr, /image\.tar\.part0005 \(wrong size\)/);
      await assert.rejects(openPartSet(dir), /part image\.tar\.part0005: size 1000, expected/);
    } finally {
      renameSync(join(work, 'whole-part'), last);
    }
  });

  test('re-splitting with a bigger size removes the stale parts and nothing else', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'keep me\n');
    writeFileSync(join(dir, 'other.tar.part0009'), 'another set\n');
    const result = await rootfs(['split', original, '--size', '128M', '-o', dir, '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((JSON.parse(result.stdout.toString()) as { removed: string[] }).removed, ['image.tar.part0004', 'image.tar.part0005']);
    assert.deepEqual(readdirSync(dir).sort(), ['image.tar.part0001', 'image.tar.part0002', 'image.tar.part0003', 'image.tar.parts.json', 'notes.txt', 'other.tar.part0009']);
    assert.equal((await readPartManifest(join(dir, 'image.tar.parts.json'))).parts.length, 3);
    const verify = await rootfs(['verify', dir]);
    assert.equal(verify.code, 0, verify.stderr);
  });
});

test('split from stdin, then join to stdout, round-trips', async (t) => {
  const work = makeTempDir(t);
  const data = randomBytes(3 * MiB + 5);
  const split = await rootfs(['split', '-', '--size', '1MiB', '--name', 'piped.bin', '-o', join(work, 'parts')], { input: data });
  assert.equal(split.code, 0, split.stderr);
  assert.deepEqual(readdirSync(join(work, 'parts')).sort(), ['piped.bin.part0001', 'piped.bin.part0002', 'piped.bin.part0003', 'piped.bin.part0004', 'piped.bin.parts.json']);
  const joined = await rootfs(['join', join(work, 'parts'), '-o', '-']);
  assert.equal(joined.code, 0, joined.stderr);
  assert.ok(joined.stdout.equals(data));

});

test('an empty file makes an empty set that joins back to an empty file', async (t) => {
  const work = makeTempDir(t);
  writeFileSync(join(work, 'empty'), '');
  const split = await rootfs(['split', join(work, 'empty'), '--size', 'cd', '-o', join(work, 'parts')]);
  assert.equal(split.code, 0, split.stderr);
  assert.deepEqual(readdirSync(join(work, 'parts')), ['empty.parts.json']);
  const joined = await rootfs(['join', join(work, 'parts'), '-o', join(work, 'back')]);
  assert.equal(joined.code, 0, joined.stderr);
  const toDirectory = await rootfs(['join', join(work, 'parts'), '-o', work]);
  assert.equal(toDirectory.code, 2, toDirectory.stderr);
  assert.match(toDirectory.stderr, /is a directory/);
  assert.equal(statSync(join(work, 'back')).size, 0);
});

test('parts without a manifest are reported as an incomplete set; two sets in one directory need the manifest named', async (t) => {
  const work = makeTempDir(t);
  writeFileSync(join(work, 'a.bin'), randomBytes(3000));
  writeFileSync(join(work, 'b.bin'), randomBytes(3000));
  const dir = join(work, 'parts');
  for (const file of ['a.bin', 'b.bin']) {
    const split = await rootfs(['split', join(work, file), '--size', '1K', '--force', '-o', dir]);
    assert.equal(split.code, 0, split.stderr);
  }
  const both = await rootfs(['verify', dir]);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /2 part sets \(a\.bin\.parts\.json, b\.bin\.parts\.json\)/);
  const named = await rootfs(['verify', join(dir, 'b.bin.parts.json')]);
  assert.equal(named.code, 0, named.stderr);

  renameSync(join(dir, 'a.bin.parts.json'), join(work, 'a.json'));
  renameSync(join(dir, 'b.bin.parts.json'), join(work, 'b.json'));
  const orphans = await rootfs(['verify', dir]);
  assert.equal(orphans.code, 4, orphans.stderr);
  assert.match(orphans.stderr, /no part manifest .*incomplete/);
  // load -i reads such a directory as a part set too, so it says the same, not that an OCI layout lacks index.json.
  assert.equal(await isPartSet(dir), true);
});

test('a directory with no part manifest is "not found" (4) for verify and join, in one line', async (t) => {
  const empty = makeTempDir(t);
  for (const args of [['verify', empty], ['join', empty, '-o', join(empty, 'out')]]) {
    const result = await rootfs(args);
    assert.equal(result.code, 4, result.stderr);
    assert.equal(result.stderr, `rootfs: ${empty}: no part manifest (*.parts.json)\n`);
  }
  assert.deepEqual(readdirSync(empty), []);
});

test('a manifest is checked before any of its names is used as a path', async (t) => {
  const work = makeTempDir(t);
  const hex = 'a'.repeat(64);
  const base = { format: 'rootfs-parts', version: 1, name: 'x.tar', size: 10, sha256: hex, partSize: 10 };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, parts: [{ name: '../../etc/passwd', size: 10, sha256: hex }] }, /is not a part of x\.tar/],
    [{ ...base, name: '../x.tar', parts: [] }, /not a plain file name/],
    [{ ...base, parts: [{ name: 'x.tar.part0001', size: 9, sha256: hex }] }, /add up to 9 bytes, not the file's size 10/],
    [{ ...base, parts: [{ name: 'x.tar.part0001', size: 10, sha256: 'sha256:00' }] }, /not a sha256 in hex/],
    [{ ...base, version: 2, parts: [] }, /unsupported part manifest version 2/],
    [{ ...base, format: 'other', parts: [] }, /not a part manifest/],
  ];
  for (const [document, message] of cases) {
    const path = join(work, 'x.tar.parts.json');
    writeFileSync(path, JSON.stringify(document));
    await assert.rejects(readPartManifest(path), (err: unknown) => err instanceof InvalidInputError && message.test(err.message) && err.message.startsWith(path));
  }
  writeFileSync(join(work, 'x.tar.parts.json'), '{ not json');
  const result = await rootfs(['join', work, '-o', join(work, 'out')]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /x\.tar\.parts\.json: malformed JSON/);
});


test('split refuses a directory and needs --size', async (t) => {
  const work = makeTempDir(t);
  const directory = await rootfs(['split', work, '--size', '1M', '-o', join(work, 'out')]);
  assert.equal(directory.code, 2, directory.stderr);
  assert.match(directory.stderr, /is a directory/);
  writeFileSync(join(work, 'f'), 'x');
  const noSize = await rootfs(['split', join(work, 'f'), '-o', join(work, 'out')]);
  assert.equal(noSize.code, 2, noSize.stderr);
  assert.match(noSize.stderr, /--size is required/);
  const missing = await rootfs(['split', join(work, 'absent'), '--size', '1M', '-o', join(work, 'out')]);
  assert.equal(missing.code, 4, missing.stderr);
});

describe('rootfs load -i DIR from the parts of a 300 MB archive', () => {
  const work = suiteTempDir('rootfs-split-load-');

  test('a corrupted part is refused by name and nothing is tagged; fixed, the image loads', async (t) => {
    if (!requireTools(t, 'tar')) return;
    const tree = join(work, 'tree');
    mkdirSync(tree);
    writeRandomFile(join(tree, 'big.bin'), 300 * MiB);
    await runOk('tar', ['--numeric-owner', '-C', tree, '-cf', join(work, 'layer.tar'), '.']);
    const source = join(work, 'source-store');
    for (const args of [
      ['import', join(work, 'layer.tar'), 'big:1', '--compression', 'none', '--store', source],
      ['save', 'big:1', '-o', join(work, 'big.tar'), '--store', source],
      ['split', join(work, 'big.tar'), '--size', '64M', '-o', join(work, 'parts')],
    ]) {
      const result = await rootfs(args);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    }
    const parts = join(work, 'parts');
    assert.ok(readdirSync(parts).includes('big.tar.part0005'));

    const target = join(work, 'target-store');
    flipByte(join(parts, 'big.tar.part0002'), 5000);
    const refused = await rootfs(['load', '-i', parts, '--store', target]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /part big\.tar\.part0002: sha256 mismatch/);
    // The store the refused load created is gone again.
    assert.equal(existsSync(target), false);

    flipByte(join(parts, 'big.tar.part0002'), 5000);
    const loaded = await rootfs(['load', '-i', parts, '--store', target]);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stdout.toString(), /Loaded image: big:1/);
    const images = JSON.parse((await rootfs(['images', '--store', target, '--json'])).stdout.toString()) as Array<{ name: string }>;
    assert.deepEqual(images.map((image) => image.name), ['big:1']);
  });
});
