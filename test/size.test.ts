import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatBytes, formatExactBytes, parseSize, sizePresets } from '../src/cli/size.js';
import { UsageError } from '../src/errors.js';
import { makeTempDir, rootfs } from './helpers.js';

const MiB = 1024 ** 2;

test('parseSize: binary K/M/G/T and KiB…, decimal KB/MB/GB/TB, presets only where asked, minimum, and refusals naming the option', () => {
  assert.equal(parseSize('64M', '--size'), 64 * MiB);
  assert.equal(parseSize('700MiB', '--size'), 700 * MiB);
  assert.equal(parseSize('100m', '--size'), 100 * MiB);
  assert.equal(parseSize('4G', '--size'), 4 * 1024 ** 3);
  assert.equal(parseSize('4.7GB', '--size'), 4_700_000_000);
  assert.equal(parseSize('10kb', '--size'), 10_000);
  assert.equal(parseSize('512', '--size'), 512);
  assert.equal(parseSize('fat32', '--size', { presets: true }), 4 * 1024 ** 3 - 1);
  assert.equal(parseSize('DVD', '--size', { presets: true }), 4_700_000_000);
  assert.equal(parseSize('bd25', '--size', { presets: true }), 25_000_000_000);
  assert.equal(parseSize('cd', '--size', { presets: true }), 700 * MiB);
  assert.throws(() => parseSize('dvd', '--chunk-size'), /--chunk-size: bad size 'dvd'/);
  for (const bad of ['', '0', '-5M', '64X', 'M', '0.1', '1e3']) assert.throws(() => parseSize(bad, '--size'), UsageError, bad);
  assert.throws(() => parseSize('100', '--size', { min: MiB }), /^UsageError: --size: '100' is 100B, less than the smallest allowed, 1MiB$/);
  assert.equal(parseSize('1M', '--size', { min: MiB }), MiB);
});

test('formatBytes prints the binary units parseSize reads, so a printed size types back as the same bytes', () => {
  assert.equal(formatBytes(0), '0B');
  assert.equal(formatBytes(1023), '1023B');
  assert.equal(formatBytes(1024), '1KiB');
  assert.equal(formatBytes(100 * MiB), '100MiB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5GiB');
  assert.equal(formatBytes(4 * 1024 ** 3 - 1), '4GiB');
  for (const size of [MiB, 100 * MiB, 64 * MiB, 1.25 * 1024 ** 3, 3 * 1024 ** 4]) assert.equal(parseSize(formatBytes(size), '--size'), size);
});

test('split refuses a part size under 1MiB unless --force (--size 100 is 100 bytes), and its summary says the size in the unit it was given', async (t) => {
  const work = makeTempDir(t);
  writeFileSync(join(work, 'data'), Buffer.alloc(3000, 7));
  const refused = await rootfs(['split', join(work, 'data'), '--size', '100', '-o', join(work, 'parts')]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.equal(refused.stderr, "rootfs: split: --size: '100' is 100B, less than the smallest allowed, 1MiB (use --force for smaller parts); usage: rootfs split <file> [options]\n");
  assert.deepEqual(readdirSync(work), ['data']);
  const forced = await rootfs(['split', join(work, 'data'), '--size', '1000', '--force', '-o', join(work, 'parts')]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readdirSync(join(work, 'parts')).length, 4);
  const big = await rootfs(['split', join(work, 'data'), '--size', '100M', '-o', join(work, 'big')]);
  assert.equal(big.code, 0, big.stderr);
  assert.match(big.stderr, /in 1 parts? of at most 100MiB in /);
});

test('push --chunk-size takes the same sizes and says so in the same words', async () => {
  const result = await rootfs(['push', 'x:1', '127.0.0.1:1/x:1', '--chunk-size', '100']);
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr, "rootfs: push: --chunk-size: '100' is 100B, less than the smallest allowed, 1KiB; usage: rootfs push <image> [destination] [options]\n");
});

test('a size that may be typed back prints exactly: fat32 is 4294967295B, not the 4GiB that is one byte more', () => {
  assert.equal(formatExactBytes(4 * 1024 ** 3 - 1), '4294967295B (about 4GiB)');
  assert.equal(formatExactBytes(4_700_000_000), '4700000000B (about 4.38GiB)');
  assert.equal(formatExactBytes(700 * MiB), '700MiB');
  assert.equal(formatExactBytes(1000), '1000B');
  for (const preset of Object.values(sizePresets)) assert.equal(parseSize(formatExactBytes(preset).split(' ')[0]!, '--size'), preset, formatExactBytes(preset));
});

test('split prints nothing on stdout but one summary line on stderr, with the exact part size; --json lists the parts', async (t) => {
  const work = makeTempDir(t);
  writeFileSync(join(work, 'data'), Buffer.alloc(3 * MiB, 7));
  const split = await rootfs(['split', join(work, 'data'), '--size', '1M', '-o', join(work, 'parts')]);
  assert.equal(split.code, 0, split.stderr);
  assert.equal(split.stdout.length, 0, 'no line per part');
  assert.equal(split.stderr, `data: 3MiB in 3 parts of at most 1MiB in ${join(work, 'parts')}, listed in data.parts.json; check them with: rootfs verify ${join(work, 'parts')}\n`);
  const fat32 = await rootfs(['split', join(work, 'data'), '--size', 'fat32', '-o', join(work, 'fat32')]);
  assert.equal(fat32.code, 0, fat32.stderr);
  assert.match(fat32.stderr, / in 1 part of at most 4294967295B \(about 4GiB\) in /);
  const json = await rootfs(['split', join(work, 'data'), '--size', '1M', '-o', join(work, 'json'), '--json']);
  assert.equal(json.stderr, '');
  const document = JSON.parse(json.stdout.toString()) as { parts: Array<{ name: string }>; partSize: number };
  assert.deepEqual(document.parts.map((part) => part.name), ['data.part0001', 'data.part0002', 'data.part0003']);
});
