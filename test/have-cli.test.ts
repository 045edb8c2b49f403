/** rootfs have: the listing it prints and writes, read back; a directory that is no store. (The reader's refusals: test/have.test.ts.) */
import assert from 'node:assert/strict';
import { reproducibleEncoders } from '../src/compress/index.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readHaveFile, type HaveDocument } from '../src/transports/omitted-layers.js';
import { Store } from '../src/store/store.js';
import { makeTempDir, requireTools, rootfs } from './helpers.js';
import { buildImage } from './fixtures.js';

test('have lists every blob and each tag with its manifest and diff_ids, sorted; -o FILE holds the same bytes; readHaveFile reads it back', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const work = makeTempDir(t);
  const storeDir = join(work, 'store');
  const store = await Store.open(storeDir);
  let base;
  let app;
  try {
    base = await buildImage(store, work, { name: 'base:latest', content: 'base\n' });
    app = await buildImage(store, work, { name: 'app:1.0', content: 'app\n' });
  } finally {
    await store.close();
  }

  const result = await rootfs(['have', '--store', storeDir]);
  assert.equal(result.code, 0, result.stderr);
  const document = JSON.parse(result.stdout.toString()) as HaveDocument;
  const onDisk = readdirSync(join(storeDir, 'blobs', 'sha256')).map((hex) => `sha256:${hex}`).sort();
  assert.equal(onDisk.length, 6);
  assert.deepEqual(document.blobs, onDisk);
  for (const image of [base, app]) {
    assert.ok(document.blobs.includes(image.layer.digest) && document.blobs.includes(image.configDigest) && document.blobs.includes(image.manifest.digest));
  }
  assert.deepEqual(document.images, [
    { name: 'app:1.0', manifest: app.manifest.digest, layers: [app.diffId] },
    { name: 'base:latest', manifest: base.manifest.digest, layers: [base.diffId] },
  ]);
  assert.equal(document.format, 'rootfs-have');
  assert.equal(document.imageLayoutVersion, '1.0.0');
  // The encoders this site can rebuild a layer with, so a sender ships deltas only for those.
  assert.deepEqual(document.encoders, reproducibleEncoders());
  assert.ok(document.encoders.includes('none') && document.encoders.some((name) => name.startsWith('gzip/zlib-')) && document.encoders.some((name) => name.startsWith('zstd/')));

  const file = join(work, 'have.json');
  const written = await rootfs(['have', '--store', storeDir, '-o', file]);
  assert.equal(written.code, 0, written.stderr);
  assert.ok(readFileSync(file).equals(result.stdout), 'the same store gives the same bytes');

  const read = await readHaveFile(file);
  assert.deepEqual([...read.blobs].sort(), onDisk);
  assert.deepEqual(read.images, document.images);
});

test('have on a directory that is not a store fails without creating one', async (t) => {
  const work = makeTempDir(t);
  const result = await rootfs(['have', '--store', join(work, 'nowhere')]);
  assert.equal(result.code, 4, result.stderr);
  assert.match(result.stderr, /no image store here/);
  assert.deepEqual(readdirSync(work), []);
});
