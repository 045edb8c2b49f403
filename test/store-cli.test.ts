import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { humanDuration } from '../src/cli/images.js';
import { Store } from '../src/store/store.js';
import { makeTempDir, projectRoot, rootfs } from './helpers.js';
import { buildImage, type BuiltImage } from './fixtures.js';

async function storeWithImages(t: import('node:test').TestContext): Promise<{ dir: string; base: BuiltImage; app: BuiltImage }> {
  const work = makeTempDir(t);
  const store = await Store.open(join(work, 'store'));
  try {
    const base = await buildImage(store, work, { name: 'base:1', content: 'base', created: '2020-05-06T07:08:09Z' });
    const app = await buildImage(store, work, { name: 'registry:5000/ns/app:1.0', content: 'app', created: new Date(Date.now() - 3 * 86_400_000).toISOString() });
    return { dir: store.dir, base, app };
  } finally {
    await store.close();
  }
}

test('humanDuration matches docker (go-units)', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(45_000), '45 seconds');
  assert.equal(humanDuration(90_000), 'About a minute');
  assert.equal(humanDuration(30 * 60_000), '30 minutes');
  assert.equal(humanDuration(65 * 60_000), 'About an hour');
  assert.equal(humanDuration(5 * 3_600_000), '5 hours');
  assert.equal(humanDuration(3 * 86_400_000), '3 days');
  assert.equal(humanDuration(20 * 86_400_000), '2 weeks');
  assert.equal(humanDuration(90 * 86_400_000), '3 months');
  assert.equal(humanDuration(800 * 86_400_000), '2 years');
});

test('rootfs images: docker-style table, newest first, and --json', async (t) => {
  const { dir, base, app } = await storeWithImages(t);
  const table = await rootfs(['images', '--store', dir]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.toString().trimEnd().split('\n');
  assert.match(lines[0]!, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
  const baseSize = base.layer.size;
  assert.deepEqual(
    lines.slice(1).map((line) => line.split(/ {2,}/)),
    [
      ['registry:5000/ns/app', '1.0', app.configDigest.slice(7, 19), '3 days ago', `${app.layer.size}B`],
      ['base', '1', base.configDigest.slice(7, 19), `${Math.floor((Date.now() - Date.parse('2020-05-06T07:08:09Z')) / 3_600_000 / 24 / 365)} years ago`, `${baseSize}B`],
    ],
  );
  // Columns line up: every row's IMAGE ID starts where the header's does.
  const idColumn = lines[0]!.indexOf('IMAGE ID');
  for (const line of lines.slice(1)) assert.match(line.slice(idColumn), /^[0-9a-f]{12} /);

  const json = await rootfs(['images', '--json'], { env: { ROOTFS_STORE: dir } });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout.toString())[1], {
    repository: 'base',
    tag: '1',
    name: 'base:1',
    id: base.configDigest,
    digest: base.manifest.digest,
    created: '2020-05-06T07:08:09Z',
    size: baseSize,
  });
});

test('rootfs tag, inspect and rmi: output and exit codes', async (t) => {
  const { dir, base } = await storeWithImages(t);
  const tagged = await rootfs(['tag', base.configDigest.slice(7, 15), 'copy:2', '--store', dir]);
  assert.equal(tagged.code, 0, tagged.stderr);
  assert.equal(tagged.stdout.length, 0, 'tag prints nothing, like docker tag');
  assert.equal((await rootfs(['tag', 'missing', 'x', '--store', dir])).code, 4);
  const badTarget = await rootfs(['tag', 'base:1', 'Bad:Name', '--store', dir]);
  assert.equal(badTarget.code, 2);
  assert.match(badTarget.stderr, /^rootfs: tag: invalid image reference "Bad:Name".*; usage: rootfs tag <source> <target> \[options\]\n$/);

  const inspected = await rootfs(['inspect', 'copy:2', '--store', dir]);
  assert.equal(inspected.code, 0, inspected.stderr);
  const [document] = JSON.parse(inspected.stdout.toString());
  assert.equal(document.Id, base.configDigest);
  assert.deepEqual(document.RepoTags, ['base:1', 'copy:2']);
  assert.equal(document.Descriptor.digest, base.manifest.digest);
  assert.deepEqual(document.Manifest.layers, [base.layer]);
  assert.deepEqual(document.ImageConfig.rootfs.diff_ids, [base.diffId]);
  assert.deepEqual(document.RootFS, { Type: 'layers', Layers: [base.diffId] });
  assert.deepEqual(document.Config, { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'], Labels: { fixture: 'yes' } }, 'Config is the container config, as in docker inspect');
  assert.equal(document.Size, base.layer.size);
  const missing = await rootfs(['inspect', 'nothing:here', '--store', dir]);
  assert.equal(missing.code, 4);
  assert.equal(missing.stderr, 'rootfs: no such image: nothing:here\n');

  const indexBefore = readFileSync(join(dir, 'index.json'));
  const partly = await rootfs(['rmi', 'copy:2', 'nothing:here', '--store', dir]);
  assert.equal(partly.code, 4);
  assert.ok(readFileSync(join(dir, 'index.json')).equals(indexBefore), 'one unknown name removes nothing');
  const ambiguousId = await rootfs(['rmi', base.configDigest.slice(7, 19), '--store', dir]);
  assert.equal(ambiguousId.code, 2);
  assert.match(ambiguousId.stderr, /is tagged base:1, copy:2: remove the tags by name/);
  const removed = await rootfs(['rmi', 'docker.io/library/copy:2', '--store', dir]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout.toString(), 'Untagged: copy:2\n');
  const byId = await rootfs(['rmi', base.configDigest.slice(7, 19), '--store', dir]);
  assert.equal(byId.code, 0, byId.stderr);
  assert.equal(byId.stdout.toString(), `Untagged: base:1\nDeleted: ${base.configDigest}\n`, 'an ID with a single tag removes that tag, and with it the image');
  assert.equal((await rootfs(['rmi', base.configDigest.slice(7, 19), '--store', dir])).code, 4, 'nothing left to untag');
  assert.ok(existsSync(join(dir, 'blobs', 'sha256', base.layer.digest.slice(7))), 'blobs stay until gc');
});

test('rootfs gc: prints what it freed, --json, and a store that has nothing to free', async (t) => {
  const { dir, base, app } = await storeWithImages(t);
  assert.equal((await rootfs(['rmi', 'base:1', '--store', dir])).code, 0);
  const gc = await rootfs(['gc', '--store', dir]);
  assert.equal(gc.code, 0, gc.stderr);
  const lines = gc.stdout.toString().trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, -1).sort(), [base.manifest.digest, base.configDigest, base.layer.digest].map((digest) => `deleted: ${digest}`).sort());
  assert.match(lines.at(-1)!, /^Total reclaimed space: \d+(\.\d+)?k?B \(3 blobs, 0 temp files\)$/);
  const again = await rootfs(['gc', '--json', '--store', dir]);
  assert.deepEqual(JSON.parse(again.stdout.toString()), { removed: [], freedBytes: 0, tempFilesRemoved: 0, treeIndexesRemoved: 0 });
  const inspected = await rootfs(['inspect', 'registry:5000/ns/app:1.0', '--store', dir]);
  assert.equal(JSON.parse(inspected.stdout.toString())[0].Id, app.configDigest);
});

test('a --store that is not an image layout is refused with exit code 3', async (t) => {
  const work = makeTempDir(t);
  const result = await rootfs(['images', '--store', join(projectRoot, 'src')]);
  assert.equal(result.code, 3);
  assert.match(result.stderr, /not an OCI image layout/);
  assert.equal((await rootfs(['images', '--store', join(work, 'new')])).code, 4, 'a reader creates no store');
  assert.equal(existsSync(join(work, 'new')), false);
});
