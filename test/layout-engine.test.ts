/**
 * One layout engine (src/store/layout.ts) under the store and under a foreign
 * oci:DIR: both validate with the peers, a put that fails midway leaves no
 * file, and a blob damaged on disk is refused when read (exit 3, naming it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { InvalidInputError } from '../src/errors.js';
import { removeUnfinished } from '../src/io/temp.js';
import { sha256 } from '../src/oci/digest.js';
import { LayoutDirectory } from '../src/store/layout.js';
import { Store } from '../src/store/store.js';
import { makeTempDir, ociImageToolValidate, requireTools, rootfs, runOk } from './helpers.js';
import { buildImage, snapshot } from './fixtures.js';

/** Every name under dir, relative, sorted: what a failed write must leave unchanged. */
function names(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

test('the store and a layout saved from it, both written by the engine, validate with oci-image-tool', async (t) => {
  if (!requireTools(t, 'oci-image-tool')) return;
  const work = makeTempDir(t);
  const storeDir = join(work, 'store');
  const store = await Store.open(storeDir);
  await buildImage(store, work, { name: 'base:1', content: 'engine\n' });
  await store.close();
  await ociImageToolValidate(storeDir, 'base:1');

  const layout = join(work, 'out');
  const saved = await rootfs(['--store', storeDir, 'save', 'base:1', '-o', `oci:${layout}`]);
  assert.equal(saved.code, 0, saved.stderr);
  await ociImageToolValidate(layout, 'base:1');
  // A foreign layout gets none of the store's private directory, and no temp file is left in it.
  assert.deepEqual(readdirSync(layout).sort(), ['blobs', 'index.json', 'oci-layout']);

  // What a killed save left in it (a dead PID's temp files) goes with the next save into it; the layout stays valid.
  const dead = spawnSync('true').pid;
  writeFileSync(join(layout, `.blob-${dead}-0123456789ab`), 'partial');
  writeFileSync(join(layout, `.index.json.tmp-${dead}-0123456789ab`), '{');
  const again = await rootfs(['--store', storeDir, 'save', 'base:1', '-o', `oci:${layout}`]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(readdirSync(layout).sort(), ['blobs', 'index.json', 'oci-layout']);
  await ociImageToolValidate(layout, 'base:1');
});

test('a put that fails midway, is aborted or is interrupted leaves no file in the layout', async (t) => {
  const work = makeTempDir(t);
  const dir = join(work, 'layout');
  const layout = LayoutDirectory.foreign(dir);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const before = names(dir);

  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(1 << 16, 1));
      this.destroy(new Error('source gone'));
    },
  });
  await assert.rejects(layout.writeBlob(failing, { digest: sha256(Buffer.alloc(0)) }), /source gone/);
  assert.deepEqual(names(dir), before);

  const writer = layout.createBlobWriter();
  await new Promise<void>((resolve, reject) => writer.write(Buffer.from('half'), (err) => (err ? reject(err) : resolve())));
  assert.equal(names(dir).length, before.length + 1, 'the temp file exists while the put runs');
  await writer.abort();
  assert.deepEqual(names(dir), before);

  // What the CLI's signal handler runs: an unfinished put's temp file goes.
  const interrupted = layout.createBlobWriter();
  await new Promise<void>((resolve, reject) => interrupted.write(Buffer.from('half'), (err) => (err ? reject(err) : resolve())));
  assert.equal(removeUnfinished(), 1);
  assert.deepEqual(names(dir), before);
  await interrupted.abort();
});

test('a blob damaged on disk is refused on read, exit 3, naming it; the store is left as it was', async (t) => {
  const work = makeTempDir(t);
  const storeDir = join(work, 'store');
  const store = await Store.open(storeDir);
  const image = await buildImage(store, work, { name: 'base:1', content: 'damage\n' });
  await store.close();
  const path = join(storeDir, 'blobs', 'sha256', image.layer.digest.slice('sha256:'.length));
  const bytes = readFileSync(path);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(path, bytes);
  const before = snapshot(storeDir);

  const saved = await rootfs(['--store', storeDir, 'save', 'base:1', '-o', `oci:${join(work, 'out')}`]);
  assert.equal(saved.code, 3, saved.stderr);
  assert.match(saved.stderr, new RegExp(`^rootfs: ${path}: digest mismatch`));
  assert.deepEqual(snapshot(storeDir), before);
  assert.deepEqual(readdirSync(work).filter((name) => name.includes('out')), []);

  // The engine read as a foreign layout's reader refuses it the same way.
  const layout = LayoutDirectory.foreign(storeDir);
  await assert.rejects(layout.readBlob(image.layer.digest, image.layer.size), (err: unknown) => err instanceof InvalidInputError && err.exitCode === 3 && err.message.startsWith(`${path}: digest mismatch`));

  // A FIFO planted under a blob's name is refused as not a file, not waited on.
  const planted = sha256(Buffer.from('planted'));
  await runOk('mkfifo', [layout.blobPath(planted)]);
  await assert.rejects(layout.readBlob(planted), (err: unknown) => err instanceof InvalidInputError && err.message === `${layout.blobPath(planted)}: not a regular file (a FIFO)`);
});
