// tier: unit
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvalidInputError } from '../src/errors.js';
import { readHaveFile } from '../src/transports/omitted-layers.js';
import { makeTempDir } from './helpers.js';

test('readHaveFile refuses anything but a have file, naming it', async (t) => {
  const work = makeTempDir(t);
  const path = join(work, 'have.json');
  const good = { format: 'rootfs-have', version: 2, imageLayoutVersion: '1.0.0', blobs: [], images: [], encoders: [] };
  const cases: Array<[string, RegExp]> = [
    ['{ oops', /malformed JSON/],
    ['[]', /not a have file/],
    [JSON.stringify({ ...good, format: 'rootfs-parts' }), /not a have file/],
    [JSON.stringify({ ...good, version: 9 }), /unsupported have file version 9/],
    [JSON.stringify({ ...good, blobs: ['sha256:abc'] }), /blobs\[0\] "sha256:abc" is not a sha256 digest/],
    [JSON.stringify({ ...good, images: [{ name: 'x:1', manifest: `sha256:${'a'.repeat(64)}`, layers: 'no' }] }), /images\[0\]\.layers is not an array/],
    [JSON.stringify({ ...good, encoders: undefined }), /encoders is not an array/],
    [JSON.stringify({ ...good, encoders: [7] }), /encoders\[0\] is not a string/],
  ];
  for (const [text, message] of cases) {
    writeFileSync(path, text);
    await assert.rejects(readHaveFile(path), (err: unknown) => err instanceof InvalidInputError && err.message.startsWith(`${path}: `) && message.test(err.message), text);
  }
});

test('a version-1 have file (before encoders) still reads, as a site that can rebuild no compressed layer', async (t) => {
  const path = join(makeTempDir(t), 'have.json');
  writeFileSync(path, JSON.stringify({ format: 'rootfs-have', version: 1, imageLayoutVersion: '1.0.0', blobs: [], images: [] }));
  assert.deepEqual([...(await readHaveFile(path)).encoders], []);
  writeFileSync(path, JSON.stringify({ format: 'rootfs-have', version: 2, imageLayoutVersion: '1.0.0', blobs: [], images: [], encoders: ['none', 'zstd/libzstd-1.5.5/mt'] }));
  assert.deepEqual([...(await readHaveFile(path)).encoders], ['none', 'zstd/libzstd-1.5.5/mt']);
});
