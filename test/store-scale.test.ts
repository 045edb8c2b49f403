/**
 * Big layouts and stores take time linear in their size (issue 19, "Time"):
 * no per-image or per-referrer rescan of index.json. The inputs are written
 * blob by blob, directly, so they are made in a second or two; each test
 * asserts the outcome, which the quadratic code reached only after minutes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Annotation, MediaType, type Descriptor } from '../src/oci/types.js';
import { referrerLimits } from '../src/oci/referrer-closure.js';
import { Store } from '../src/store/store.js';
import { makeTempDir, rootfs, runOk } from './helpers.js';
import { buildImage, layerOfTar, makeImage } from './fixtures.js';

function putBlob(dir: string, data: string | Buffer): { digest: `sha256:${string}`; size: number } {
  const bytes = Buffer.from(data);
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(dir, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

test('copy of a layout holding 10,000 images with no ref into one name is refused (2) from its index, before any blob is staged', async (t) => {
  const work = makeTempDir(t);
  const layout = join(work, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const layer = layerOfTar(Buffer.alloc(1024));
  putBlob(layout, layer.blob);
  const manifests: Descriptor[] = [];
  for (let i = 0; i < 10_000; i++) {
    const image = makeImage([layer], { label: String(i) });
    putBlob(layout, image.config);
    putBlob(layout, image.manifest);
    const { platform: _, ...manifest } = image.manifestDescriptor;
    manifests.push(manifest);
  }
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests }));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const store = join(work, 'store');
  const result = await rootfs(['--store', store, 'copy', `oci:${layout}`, 'rootfs:one:1']);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /names one image, but .* holds 10000; choose one with FORMAT:PATH:REF/);
});

// One bound on every path (oci/referrer-closure.ts referrerLimits): what save writes, load takes whole. Past it, the first
// 1,000 go, each once, with the warning a registry's would get; reaching them stays linear in the store's 10,000.
test('save of an image with 10,000 referrers carries the first 1,000, each once, and says the rest are left out', async (t) => {
  const work = makeTempDir(t);
  const storeDir = join(work, 'store');
  const store = await Store.open(storeDir);
  const image = await buildImage(store, work, { name: 'base:1' });
  await store.close();
  // The referrers as the store records them (store.addReferrer's entries), written at once.
  const empty = putBlob(storeDir, '{}');
  const index = JSON.parse(readFileSync(join(storeDir, 'index.json'), 'utf8'));
  for (let i = 0; i < 10_000; i++) {
    const payload = putBlob(storeDir, `signature ${i}`);
    const manifest = putBlob(storeDir, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, artifactType: 'application/x-test', config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty }, layers: [{ mediaType: 'application/x-test', ...payload }], subject: image.manifest }));
    index.manifests.push({ mediaType: MediaType.ImageManifest, artifactType: 'application/x-test', ...manifest, annotations: { [Annotation.Subject]: image.manifest.digest } });
  }
  writeFileSync(join(storeDir, 'index.json'), JSON.stringify(index));

  const archive = join(work, 'base.tar');
  const saved = await rootfs(['--store', storeDir, 'save', 'base:1', '--format', 'oci-archive', '-o', archive]);
  assert.equal(saved.code, 0, saved.stderr);
  const listing = (await runOk('tar', ['-xOf', archive, 'index.json'])).stdout.toString();
  const entries = JSON.parse(listing).manifests as Descriptor[];
  assert.equal(entries.filter((entry) => entry.artifactType === 'application/x-test').length, referrerLimits.total);
  assert.equal(new Set(entries.map((entry) => entry.digest)).size, entries.length, 'each once');
  assert.match(saved.stderr, /more than 1000 referrers; the rest are left out/);
  assert.match(saved.stderr, /1000 referrers/);
});
