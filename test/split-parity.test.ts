/**
 * Part sets with PAR2 parity (split --parity): par2cmdline reads and repairs
 * what we write, and verify, join and load -i DIR rebuild damaged or missing
 * parts from it as they read, never writing to the set's directory.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { readPartManifest, splitToParts } from '../src/split/index.js';
import { snapshot } from './fixtures.js';
import { makeTempDir, requireTools, rootfs, runOk, suiteTempDir } from './helpers.js';
import { writeKeys } from './trust-fixture.js';

const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Overwrites bytes in place, as a bad sector would. */
function damage(path: string, offset: number, length = 64): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, randomBytes(length), 0, length, offset);
  } finally {
    closeSync(fd);
  }
}

function par2Files(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.par2')).sort();
}

describe('an image archive in 1 MiB parts with 10% parity', () => {
  const work = suiteTempDir('rootfs-parity-');
  const parts = join(work, 'parts');
  const archive = join(work, 'app.tar');
  let archiveSha = '';

  before(async () => {
    const tree = join(work, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'data.bin'), randomBytes(24 * MiB));
    const source = join(work, 'source-store');
    await runOk('tar', ['--numeric-owner', '-C', tree, '-cf', join(work, 'layer.tar'), '.']);
    for (const args of [
      ['import', join(work, 'layer.tar'), 'app:1', '--compression', 'none', '--store', source],
      ['save', 'app:1', '-o', archive, '--store', source],
      ['split', archive, '--size', '1M', '--parity', '10', '-o', parts],
    ]) {
      const result = await rootfs(args);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    }
    archiveSha = sha256(readFileSync(archive));
  });

  /** A copy of the set with part 2 gone and part 5 damaged: one missing, one corrupted. */
  function damagedCopy(dir: string): string {
    const copy = join(dir, 'usb');
    cpSync(parts, copy, { recursive: true });
    rmSync(join(copy, 'app.tar.part0002'));
    damage(join(copy, 'app.tar.part0005'), 300_000);
    return copy;
  }

  test('the manifest lists every PAR2 file with its size and sha256, and the recovery set ID', async () => {
    const manifest = await readPartManifest(join(parts, 'app.tar.parts.json'));
    assert.ok(manifest.parity);
    assert.match(manifest.parity.recoverySetId, /^[0-9a-f]{32}$/);
    assert.deepEqual(manifest.parity.files.map((file) => file.name), par2Files(parts));
    assert.ok(par2Files(parts).includes('app.tar.par2'));
    for (const file of manifest.parity.files) assert.equal(sha256(readFileSync(join(parts, file.name))), file.sha256, file.name);
  });

  test('par2 verify accepts the set; par2 repair rebuilds a missing and a corrupted part, and rootfs verify then says OK', async (t) => {
    if (!requireTools(t, 'par2')) return;
    await runOk('par2', ['verify', '-q', 'app.tar.par2'], { cwd: parts });
    const copy = damagedCopy(makeTempDir(t));
    await runOk('par2', ['repair', '-q', 'app.tar.par2'], { cwd: copy });
    const verified = await rootfs(['verify', copy]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout.toString(), /app\.tar: OK \(\d+ parts, .*recovery slices/);
  });

  test('verify names the missing and the corrupted part and says the parity can rebuild them: exit 1', async (t) => {
    const copy = damagedCopy(makeTempDir(t));
    const result = await rootfs(['verify', copy]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^rootfs: warning: .*app\.tar\.parts\.json: 2 of \d+ parts bad: app\.tar\.part0002 \(missing\), app\.tar\.part0005 \(sha256 mismatch\); they can be rebuilt from the parity \(\d+ recovery slices, \d+ needed\)/,
    );
    const json = JSON.parse((await rootfs(['verify', copy, '--json'])).stdout.toString()) as { ok: boolean; parity: { repairable: boolean; needed: number; recoverySlices: number } };
    assert.equal(json.ok, false);
    assert.equal(json.parity.repairable, true);
    // The missing part costs all its slices, the corrupted one only the slice the damage is in.
    assert.ok(json.parity.needed > 1 && json.parity.needed <= json.parity.recoverySlices, JSON.stringify(json.parity));
  });

  test('join and load -i DIR rebuild the two parts as they read: the bytes are exact, the image loads, the set and the temp dir are as before', async (t) => {
    const dir = makeTempDir(t);
    const copy = damagedCopy(dir);
    const temp = join(dir, 'tmp');
    mkdirSync(temp);
    const env = { TMPDIR: temp };
    const before = snapshot(copy);

    // Exit 1, as load's for a warning: the output is whole and verified, the media are not.
    const joined = await rootfs(['join', copy, '-o', join(dir, 'joined.tar')], { env });
    assert.equal(joined.code, 1, joined.stderr);
    assert.match(joined.stderr, /warning: .*2 of \d+ parts bad: app\.tar\.part0002 \(missing\), app\.tar\.part0005 \(sha256 mismatch\); rebuilt from the parity as read/);
    assert.equal(sha256(readFileSync(join(dir, 'joined.tar'))), archiveSha);

    const store = join(dir, 'store');
    const loaded = await rootfs(['load', '-i', copy, '--store', store], { env });
    assert.equal(loaded.code, 1, loaded.stderr);
    assert.match(loaded.stdout.toString(), /Loaded image: app:1/);
    assert.match(loaded.stderr, /rebuilt from the parity as read/);

    assert.deepEqual(snapshot(copy), before);
    assert.deepEqual(readdirSync(temp), []);
  });

  test('copy reads a part set as the archive it was cut from, under its format, and rebuilds it from the parity as load does', async (t) => {
    const dir = makeTempDir(t);
    const copy = damagedCopy(dir);
    const before = snapshot(copy);
    const layout = join(dir, 'layout');
    const copied = await rootfs(['copy', `docker-archive:${copy}`, `oci:${layout}:app`], { env: { ROOTFS_STORE: join(dir, 'user-store') } });
    // copy's exit status does not count warnings (load's and join's do): the warning is the record.
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stderr, /warning: .*2 of \d+ parts bad: app\.tar\.part0002 \(missing\), app\.tar\.part0005 \(sha256 mismatch\); rebuilt from the parity as read/);
    assert.match(copied.stdout.toString(), /^Copied app: sha256:[a-f0-9]{64}\n/);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
    assert.equal(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'], 'app');
    assert.deepEqual(snapshot(copy), before, 'the media are not written');
    const refused = await rootfs(['copy', `oci:${copy}`, `oci:${join(dir, 'other')}:app`]);
    assert.notEqual(refused.code, 0, 'oci: names a layout directory, not a part set');
  });

  test('a corrupted part alone is rebuilt as it is met, from its bad slice only', async (t) => {
    const dir = makeTempDir(t);
    const copy = join(dir, 'usb');
    cpSync(parts, copy, { recursive: true });
    damage(join(copy, 'app.tar.part0007'), 1000, 8);
    const joined = await rootfs(['join', copy, '-o', '-']);
    assert.equal(joined.code, 1, joined.stderr);
    assert.equal(sha256(joined.stdout), archiveSha);
    assert.match(joined.stderr, /1 of \d+ parts bad: app\.tar\.part0007 \(sha256 mismatch\); rebuilt from the parity as read \(1 slice\)/);
  });

  test('too much damage: one line naming the parts and what the parity lacks, exit 3, no output and no store', async (t) => {
    const dir = makeTempDir(t);
    const copy = join(dir, 'usb');
    cpSync(parts, copy, { recursive: true });
    for (const n of [1, 2, 3]) rmSync(join(copy, `app.tar.part000${n}`));
    const line = /^rootfs: .*app\.tar\.parts\.json: 3 of \d+ parts bad: app\.tar\.part0001 \(missing\), app\.tar\.part0002 \(missing\), app\.tar\.part0003 \(missing\); they cannot be rebuilt from the parity: \d+ slices needed, \d+ available\n$/;
    const verified = await rootfs(['verify', copy]);
    assert.equal(verified.code, 3);
    assert.match(verified.stderr, line);
    const joined = await rootfs(['join', copy, '-o', join(dir, 'out.tar')]);
    assert.equal(joined.code, 3);
    assert.match(joined.stderr, line);
    assert.equal(existsSync(join(dir, 'out.tar')), false);
    const store = join(dir, 'store');
    const loaded = await rootfs(['load', '-i', copy, '--store', store]);
    assert.equal(loaded.code, 3);
    assert.match(loaded.stderr, line);
    assert.equal(existsSync(store), false);
  });

  test('a damaged parity file is tolerated: its intact packets are used, the damaged recovery slice is not', async (t) => {
    const dir = makeTempDir(t);
    const copy = damagedCopy(dir);
    const volumes = par2Files(copy).filter((name) => name.includes('.vol'));
    const largest = volumes[volumes.length - 1]!;
    damage(join(copy, largest), 100_000);
    damage(join(copy, 'app.tar.par2'), 70);
    const whole = JSON.parse((await rootfs(['verify', parts, '--json'])).stdout.toString()) as { parity: { recoverySlices: number } };
    const json = JSON.parse((await rootfs(['verify', copy, '--json'])).stdout.toString()) as { parity: { recoverySlices: number; repairable: boolean } };
    assert.equal(json.parity.recoverySlices, whole.parity.recoverySlices - 1);
    assert.equal(json.parity.repairable, true);
    const joined = await rootfs(['join', copy, '-o', '-']);
    assert.equal(joined.code, 1, joined.stderr);
    assert.equal(sha256(joined.stdout), archiveSha);

    // The parts whole and a PAR2 file damaged: the data is fine (exit 0, as par2 verify's), the loss of protection is said.
    const intact = join(dir, 'intact');
    cpSync(parts, intact, { recursive: true });
    damage(join(intact, largest), 100_000);
    const verified = await rootfs(['verify', intact]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stderr, new RegExp(`warning: .*app\\.tar\\.parts\\.json: 1 of \\d+ PAR2 files bad: ${largest.replace(/[.+]/g, '\\$&')} \\(sha256 mismatch\\); \\d+ recovery slices intact`));
  });

  test('parity par2 create made over the parts (a set split without --parity) is used too', async (t) => {
    if (!requireTools(t, 'par2')) return;
    const dir = makeTempDir(t);
    const copy = join(dir, 'usb');
    mkdirSync(copy);
    for (const name of readdirSync(parts).filter((name) => !name.endsWith('.par2'))) cpSync(join(parts, name), join(copy, name));
    const manifest = JSON.parse(readFileSync(join(copy, 'app.tar.parts.json'), 'utf8')) as Record<string, unknown>;
    delete manifest.parity;
    writeFileSync(join(copy, 'app.tar.parts.json'), JSON.stringify(manifest));
    const partNames = readdirSync(copy).filter((name) => /\.part\d+$/.test(name)).sort();
    await runOk('par2', ['create', '-q', '-r10', 'app.tar.par2', ...partNames], { cwd: copy });
    rmSync(join(copy, 'app.tar.part0003'));
    const joined = await rootfs(['join', copy, '-o', '-']);
    assert.equal(joined.code, 1, joined.stderr);
    assert.equal(sha256(joined.stdout), archiveSha);
    assert.match(joined.stderr, /app\.tar\.part0003 \(missing\); rebuilt from the parity/);
  });
});

test('a signed set signs its parity: --require-signed still passes with a part rebuilt', async (t) => {
  const dir = makeTempDir(t);
  const { key, pub } = writeKeys(dir, 'site');
  writeFileSync(join(dir, 'f'), randomBytes(6 * MiB));
  const split = await rootfs(['split', join(dir, 'f'), '--size', '1M', '--parity', '30', '--sign', key, '-o', join(dir, 'p')]);
  assert.equal(split.code, 0, split.stderr);
  const manifest = await readPartManifest(join(dir, 'p', 'f.parts.json'));
  assert.deepEqual(manifest.parity?.files.map((file) => file.name), par2Files(join(dir, 'p')));
  const verified = await rootfs(['verify', join(dir, 'p'), '--key', pub]);
  assert.equal(verified.code, 0, verified.stderr);
  rmSync(join(dir, 'p', 'f.part0004'));
  const joined = await rootfs(['join', join(dir, 'p'), '--require-signed', pub, '-o', join(dir, 'out')]);
  assert.equal(joined.code, 1, joined.stderr);
  assert.match(joined.stderr, /f\.part0004 \(missing\); rebuilt from the parity/);
  assert.deepEqual(readFileSync(join(dir, 'out')), readFileSync(join(dir, 'f')));
});

test('re-splitting removes the parity files of the old set; without --parity none are left', async (t) => {
  const dir = makeTempDir(t);
  const out = join(dir, 'p');
  writeFileSync(join(dir, 'f'), randomBytes(3 * MiB));
  const split = async (...args: string[]): Promise<void> => {
    const result = await rootfs(['split', join(dir, 'f'), '--size', '1M', '-o', out, ...args]);
    assert.equal(result.code, 0, result.stderr);
  };
  await split('--parity', '50');
  const fifty = par2Files(out);
  await split('--parity', '5');
  const five = par2Files(out);
  assert.notDeepEqual(five, fifty);
  assert.deepEqual((await readPartManifest(join(out, 'f.parts.json'))).parity?.files.map((file) => file.name), five);
  await split();
  assert.deepEqual(par2Files(out), []);
  assert.equal((await readPartManifest(join(out, 'f.parts.json'))).parity, undefined);
});

test("PAR2 files of other bytes under the set's name (a stale par2 create) do not stop a whole set from reading", async (t) => {
  if (!requireTools(t, 'par2')) return;
  const dir = makeTempDir(t);
  for (const name of ['old', 'new']) writeFileSync(join(dir, name), randomBytes(2 * MiB));
  for (const name of ['old', 'new']) {
    const result = await rootfs(['split', join(dir, name), '--name', 'f', '--size', '1M', '-o', join(dir, name + '-parts')]);
    assert.equal(result.code, 0, result.stderr);
  }
  await runOk('par2', ['create', '-q', '-r10', 'f.par2', 'f.part0001', 'f.part0002'], { cwd: join(dir, 'old-parts') });
  for (const name of par2Files(join(dir, 'old-parts'))) cpSync(join(dir, 'old-parts', name), join(dir, 'new-parts', name));
  const joined = await rootfs(['join', join(dir, 'new-parts'), '-o', '-']);
  assert.equal(joined.code, 0, joined.stderr);
  assert.deepEqual(joined.stdout, readFileSync(join(dir, 'new')));
  assert.doesNotMatch(joined.stderr, /rebuilt/);
});

test('--parity takes a percentage above 0 and at most 100: anything else is exit 2 before a part is written', async (t) => {
  const dir = makeTempDir(t);
  writeFileSync(join(dir, 'f'), randomBytes(1000));
  for (const value of ['0', '101', 'ten', '']) {
    const result = await rootfs(['split', join(dir, 'f'), '--size', '1M', '--parity', value, '-o', join(dir, 'p')]);
    assert.equal(result.code, 2, `--parity ${value}: ${result.stderr}`);
    assert.match(result.stderr, /^rootfs: split: --parity .*: give a percentage of the data above 0 and at most 100/);
    assert.equal(existsSync(join(dir, 'p')), false);
  }
});

test('the three multiply-add kernels (AVX2, SSSE3, 256-entry tables) make the same parity bytes', async (t) => {
  const dir = makeTempDir(t);
  writeFileSync(join(dir, 'f'), randomBytes(3 * MiB + 1001));
  const parity: string[][] = [];
  // ROOTFS_GF_SIMD lowers what the addon uses on this CPU; one that lacks AVX2 compares fewer kernels.
  for (const simd of ['2', '1', '0']) {
    const out = join(dir, simd);
    const result = await rootfs(['split', join(dir, 'f'), '--size', '1M', '--parity', '30', '-o', out], { env: { ROOTFS_GF_SIMD: simd } });
    assert.equal(result.code, 0, result.stderr);
    parity.push(par2Files(out).map((name) => `${name} ${sha256(readFileSync(join(out, name)))}`));
  }
  assert.deepEqual(parity[1], parity[0]);
  assert.deepEqual(parity[2], parity[0]);
});

test('parity computed in several passes (a small memory bound) is the same bytes as in one', async (t) => {
  const dir = makeTempDir(t);
  const data = randomBytes(5 * MiB + 123);
  const cut = async (name: string, parityMemory?: number): Promise<Map<string, string>> => {
    const out = join(dir, name);
    const result = await splitToParts(Readable.from([data]), { source: 'data', dir: out, name: 'd', partSize: MiB, parity: 20, ...(parityMemory ? { parityMemory } : {}) });
    if (parityMemory) assert.ok(result.parity!.passes > 1, `${result.parity!.passes} passes`);
    else assert.equal(result.parity!.passes, 1);
    return new Map(par2Files(out).map((file) => [file, sha256(readFileSync(join(out, file)))]));
  };
  const once = await cut('once');
  const passes = await cut('passes', 64 * 1024);
  assert.deepEqual(passes, once);
});
