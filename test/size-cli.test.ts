/** The size flags as the commands take them: one refusal wording, one summary line. (The parser itself: test/size.test.ts.) */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, rootfs } from './helpers.js';

const MiB = 1024 ** 2;

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
