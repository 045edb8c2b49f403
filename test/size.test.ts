// tier: unit
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatExactBytes, parseSize, sizePresets } from '../src/cli/size.js';
import { UsageError } from '../src/errors.js';

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

test('a size that may be typed back prints exactly: fat32 is 4294967295B, not the 4GiB that is one byte more', () => {
  assert.equal(formatExactBytes(4 * 1024 ** 3 - 1), '4294967295B (about 4GiB)');
  assert.equal(formatExactBytes(4_700_000_000), '4700000000B (about 4.38GiB)');
  assert.equal(formatExactBytes(700 * MiB), '700MiB');
  assert.equal(formatExactBytes(1000), '1000B');
  for (const preset of Object.values(sizePresets)) assert.equal(parseSize(formatExactBytes(preset).split(' ')[0]!, '--size'), preset, formatExactBytes(preset));
});
