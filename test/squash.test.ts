import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Store } from '../src/store/store.js';
import type { ImageConfig, Manifest } from '../src/oci/types.js';
import { makeTempDir, requireRoot, requireTools, rootfs, runOk } from './helpers.js';
import { describeTree } from './tree.js';
import { resolveImage } from '../src/store/resolve.js';
import { storeImage, tarOf } from './fixtures.js';

/**
 * Three layers with every change squash must apply: a whiteout of a file and
 * of a subtree, an opaque dir whose marker comes after the dir's new entry,
 * a dir replaced by a file and a file by a dir, a replaced file, hardlinks
 * whose targets a later layer replaces or deletes, owners, setuid, an xattr.
 */
const layers = [
  tarOf([
    { path: './' },
    { path: 'etc/' },
    { path: 'etc/passwd', body: 'root v1\n' },
    { path: 'etc/keep', body: 'keep\n', mode: 0o640, uid: 1234, gid: 5678, xattrs: { 'user.note': Buffer.from([0xff, 0x00, 0x41]) } },
    { path: 'bin/' },
    { path: 'bin/tool', body: 'tool v1\n', mode: 0o4755 },
    { path: 'bin/tool-alias', type: 'hardlink', linkpath: 'bin/tool' },
    { path: 'opq/' },
    { path: 'opq/a', body: 'a\n' },
    { path: 'opq/sub/' },
    { path: 'opq/sub/b', body: 'b\n' },
    { path: 'del/' },
    { path: 'del/x', body: 'x\n' },
    { path: 'del/y/' },
    { path: 'del/y/z', body: 'z\n' },
    { path: 'gone', body: 'gone\n' },
    { path: 'dir2file/' },
    { path: 'dir2file/child', body: 'child\n' },
    { path: 'file2dir', body: 'f\n' },
    { path: 'data/' },
    { path: 'data/orig', body: 'orig content\n' },
    { path: 'lnk', linkpath: 'etc/passwd' },
  ]),
  tarOf([
    { path: '.wh.gone' },
    { path: 'del/' },
    { path: 'del/.wh.y' },
    { path: 'del/.wh.x' },
    { path: 'opq/', mode: 0o700 },
    { path: 'opq/new', body: 'new\n' },
    { path: 'opq/.wh..wh..opq' },
    { path: 'dir2file', body: 'now a file\n' },
    { path: 'file2dir/' },
    { path: 'file2dir/inner', body: 'inner\n' },
    { path: 'etc/passwd', body: 'root v2\n' },
    { path: 'data/link', type: 'hardlink', linkpath: 'data/orig' },
    { path: 'bin/tool2', type: 'hardlink', linkpath: 'bin/tool' },
  ]),
  tarOf([
    { path: 'data/orig', body: 'replaced content\n' },
    { path: 'bin/.wh.tool' },
    { path: 'etc/added', body: 'added\n', uid: 7 },
  ]),
];

async function setup(t: TestContext): Promise<{ dir: string; store: string }> {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const opened = await Store.open(store);
  try {
    await storeImage(opened, 'layered:1', layers);
  } finally {
    await opened.close();
  }
  return { dir, store };
}

async function umociTree(store: string, tag: string, bundle: string): Promise<ReturnType<typeof describeTree>> {
  await runOk('umoci', ['unpack', '--image', `${store}:${tag}`, bundle]);
  return describeTree(join(bundle, 'rootfs'));
}

async function squashJson(store: string, args: string[], env: Record<string, string> = {}): Promise<{ id: string; diffId: string; layer: { digest: string } }> {
  const result = await rootfs(['--store', store, '--json', 'squash', ...args], { env });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.toString()) as { id: string; diffId: string; layer: { digest: string } };
}

test('squash of three layers equals umoci unpack of the layered image, and umoci unpacks the squashed one the same', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'umoci')) return;
  const { dir, store } = await setup(t);
  const expected = await umociTree(store, 'layered:1', join(dir, 'layered'));
  assert.equal(expected['data/link']?.sha256, describeSha('orig content\n'), 'umoci keeps the old content for the link');

  await squashJson(store, ['layered:1', 'flat:1']);
  assert.deepEqual(await umociTree(store, 'flat:1', join(dir, 'flat')), expected);

  const unpacked = join(dir, 'unpacked');
  const result = await rootfs(['--store', store, 'unpack', 'layered:1', unpacked]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(describeTree(unpacked), expected);

  const opened = await Store.open(store);
  try {
    const image = await resolveImage(opened, 'flat:1');
    assert.equal(image.manifest.layers.length, 1);
    assert.equal(image.config.rootfs.diff_ids.length, 1);
    assert.deepEqual(
      image.config.history?.map((entry) => [entry.created_by, entry.empty_layer ?? false]),
      [['layer 1', true], ['layer 2', true], ['layer 3', true], ['rootfs squash', false]],
    );
  } finally {
    await opened.close();
  }
});

test('squash --from 1 keeps the base layer and the whiteouts that apply to it', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'umoci')) return;
  const { dir, store } = await setup(t);
  const expected = await umociTree(store, 'layered:1', join(dir, 'layered'));
  await squashJson(store, ['layered:1', 'upper:1', '--from', '1']);
  // bin/tool2 links to bin/tool of the kept layer, which the merged layers delete: the
  // merged layer carries that content itself, but cannot join it to bin/tool-alias,
  // the kept layer's other link to it (docs/squash.md).
  const { linkGroup, ...tool2 } = expected['bin/tool2']!;
  assert.equal(linkGroup, 'bin/tool-alias');
  assert.deepEqual(await umociTree(store, 'upper:1', join(dir, 'upper')), { ...expected, 'bin/tool2': tool2 });

  const opened = await Store.open(store);
  try {
    const layered = await resolveImage(opened, 'layered:1');
    const upper = await resolveImage(opened, 'upper:1');
    assert.equal(upper.manifest.layers.length, 2);
    assert.deepEqual(upper.manifest.layers[0], layered.manifest.layers[0]);
    const config = (await opened.readJson<ImageConfig>(upper.manifest.config.digest));
    assert.deepEqual(config.history?.map((entry) => entry.empty_layer ?? false), [false, true, true, false]);
  } finally {
    await opened.close();
  }
});

test('export gives the bytes of the squashed layer: import of it has the same diff_id; SOURCE_DATE_EPOCH makes squash reproducible', async (t) => {
  const { dir, store } = await setup(t);
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const first = await squashJson(store, ['layered:1', 'flat:1'], env);
  const again = await squashJson(store, ['layered:1', 'flat:2'], env);
  assert.equal(again.id, first.id);
  assert.equal(again.layer.digest, first.layer.digest);

  const file = join(dir, 'rootfs.tar');
  const exported = await rootfs(['--store', store, 'export', 'layered:1', '-o', file]);
  assert.equal(exported.code, 0, exported.stderr);
  const imported = await rootfs(['--store', store, '--json', 'import', file, 'reimported:1']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal((JSON.parse(imported.stdout.toString()) as { diffId: string }).diffId, first.diffId);

  const piped = await rootfs(['--store', store, 'export', 'layered:1']);
  assert.equal(piped.code, 0, piped.stderr);
  assert.ok(piped.stdout.equals(readFileSync(file)), 'export to stdout and to a file write the same bytes');
  // Parents before children, whiteouts gone, each path once.
  const names = (await runOk('tar', ['-tf', file])).stdout.toString().trim().split('\n');
  assert.equal(new Set(names).size, names.length);
  assert.ok(!names.some((name) => name.includes('.wh.')));
  for (const [i, name] of names.entries()) {
    const parent = name.replace(/\/?[^/]+\/?$/, '/');
    if (parent !== '/' && parent !== './') assert.ok(names.slice(0, i).includes(parent), `${name} comes after ${parent}`);
  }
});

test('squash refuses a --from outside the image and leaves the store without a new tag', async (t) => {
  const { store } = await setup(t);
  const result = await rootfs(['--store', store, 'squash', 'layered:1', 'bad:1', '--from', '3']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--from must be a layer index from 0 to 2/);
  const opened = await Store.open(store);
  try {
    const manifest: Manifest = (await resolveImage(opened, 'layered:1')).manifest;
    assert.equal(manifest.layers.length, 3);
    await assert.rejects(resolveImage(opened, 'bad:1'), /no such image/);
  } finally {
    await opened.close();
  }
});

function describeSha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
