/**
 * OCI layouts written by skopeo and umoci name images by a bare tag in
 * org.opencontainers.image.ref.name (`oci:lay:deb`): load makes them tags of
 * localhost/<layout name>, `oci:DIR:REF` picks one, `--tag` names it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, requireTools, rootfs, runOk } from './helpers.js';
import { buildImage, withStore } from './fixtures.js';

test('load of a skopeo/umoci layout with bare ref.names: localhost/DIR:NAME, oci:DIR:REF picks one, --tag names it', async (t) => {
  if (!requireTools(t, 'skopeo', 'umoci', 'tar')) return;
  const work = makeTempDir(t);
  const store = join(work, 'store');
  const image = await withStore(store, (opened) => buildImage(opened, work, { name: 'src:1', content: 'deb' }));
  const layout = join(work, 'lay');
  await runOk('skopeo', ['copy', '--quiet', `oci:${store}:src:1`, `oci:${layout}:deb`]);
  await runOk('skopeo', ['copy', '--quiet', `oci:${store}:src:1`, `oci:${layout}:deb2`]);
  await runOk('umoci', ['tag', '--image', `${layout}:deb`, 'deb3']);

  const target = join(work, 'target');
  const all = await rootfs(['--store', target, 'load', '-i', layout]);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(all.stdout.toString().trim().split('\n').sort(), ['Loaded image: localhost/lay:deb', 'Loaded image: localhost/lay:deb2', 'Loaded image: localhost/lay:deb3']);
  const id = await rootfs(['--store', target, 'inspect', '-f', '{{.Id}}', 'localhost/lay:deb2']);
  assert.equal(id.stdout.toString(), `${image.configDigest}\n`);

  const one = join(work, 'one');
  const picked = await rootfs(['--store', one, 'load', '-i', `oci:${layout}:deb3`, '--tag', 'debian:12']);
  assert.equal(picked.code, 0, picked.stderr);
  assert.equal(picked.stdout.toString(), 'Loaded image: debian:12\n');
  const names = await rootfs(['--store', one, 'images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(names.stdout.toString(), 'debian:12\n');

  const several = await rootfs(['--store', join(work, 'several'), 'load', '-i', layout, '--tag', 'x:1']);
  assert.equal(several.code, 2);
  assert.match(several.stderr, /--tag names one image, but .*lay holds 3; choose one with FORMAT:PATH:REF/);

  // The same rule for an oci-archive file: its name without .tar.
  const archive = join(work, 'Deb Images.tar');
  await runOk('skopeo', ['copy', '--quiet', `oci:${store}:src:1`, `oci-archive:${archive}:bookworm`]);
  const fromArchive = await rootfs(['--store', join(work, 'archive'), 'load', '-i', archive]);
  assert.equal(fromArchive.code, 0, fromArchive.stderr);
  assert.equal(fromArchive.stdout.toString(), 'Loaded image: localhost/deb-images:bookworm\n');
  // From stdin there is no file name to take a repository from: the image loads untagged (by ID), and --tag names it.
  const fromStdin = await rootfs(['--store', join(work, 'stdin'), 'load'], { input: (await import('node:fs')).readFileSync(archive) });
  assert.equal(fromStdin.stdout.toString(), `Loaded image ID: ${image.configDigest}\n`);
});
