/**
 * The store read by the real peers, unchanged: skopeo (oci:STORE:NAME),
 * umoci (STORE:NAME) and oci-image-tool (--type image --ref name=NAME), with
 * names holding ':' and '/' and our private .rootfs directory in place.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../src/store/store.js';
import { atEnd, makeTempDir, requireRoot, requireTools, runOk } from './helpers.js';
import { buildImage } from './fixtures.js';

test('skopeo, umoci and oci-image-tool read images tagged in the store', async (t) => {
  if (!requireTools(t, 'skopeo', 'umoci', 'oci-image-tool') || !requireRoot(t)) return;
  const work = makeTempDir(t);
  const store = await Store.open(join(work, 'store'));
  atEnd(t, () => store.close());
  const image = await buildImage(store, work, { name: 'base:latest', content: 'interop\n' });
  const other = await buildImage(store, work, { name: 'registry:5000/ns/app:1.0', content: 'other\n' });
  // A temp file a killed writer left behind must not disturb the readers.
  writeFileSync(join(store.dir, '.rootfs', 'tmp', 'blob-1-stale'), 'partial');

  for (const [name, built] of [['base:latest', image], ['registry:5000/ns/app:1.0', other]] as const) {
    const raw = JSON.parse((await runOk('skopeo', ['inspect', '--raw', `oci:${store.dir}:${name}`])).stdout.toString());
    assert.equal(raw.config.digest, built.configDigest, name);
    const config = JSON.parse((await runOk('skopeo', ['inspect', '--config', `oci:${store.dir}:${name}`])).stdout.toString());
    assert.deepEqual(config.rootfs.diff_ids, [built.diffId], name);
    const summary = JSON.parse((await runOk('skopeo', ['inspect', `oci:${store.dir}:${name}`])).stdout.toString());
    assert.equal(summary.Digest, built.manifest.digest, name);

    await runOk('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${name}`, store.dir]);

    const bundle = join(work, `bundle-${name.replace(/[:/]/g, '_')}`);
    await runOk('umoci', ['unpack', '--image', `${store.dir}:${name}`, bundle]);
    assert.equal(readFileSync(join(bundle, 'rootfs', 'etc', 'hello'), 'utf8'), name === 'base:latest' ? 'interop\n' : 'other\n');
  }

  // After gc (which removes the stale temp file) the layout still validates.
  const result = await store.gc();
  assert.deepEqual(result.removed, []);
  assert.equal(result.tempFilesRemoved, 1);
  await runOk('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=base:latest', store.dir]);
});
