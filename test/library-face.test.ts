/**
 * The library's face (package.json `exports`, src/index.ts): a program
 * imports `rootfs` by name and calls operations on a store, no CLI spawned.
 * The import goes through the package's self-reference, so it resolves the
 * way it would for a dependant.
 */
import assert from 'node:assert/strict';
import { createReadStream, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as face from 'rootfs';
import { diffImage, ExitCode, openAppendInput, namesPartSet, sbomOf, exportImage, imageFilter, importImage, importTarball, listImages, inspectImages, loadArchive, NotFoundError, openImportSource, packTo, parseReference, removeImages, resolveImage, saveImages, Store, UsageError } from 'rootfs';
import { makeTempDir, projectRoot } from './helpers.js';

test('rootfs resolves, by name, to the built src/index.js; package.json is exported too', () => {
  assert.equal(import.meta.resolve('rootfs'), pathToFileURL(join(projectRoot, 'dist/src/index.js')).href);
  assert.equal(import.meta.resolve('rootfs/package.json'), pathToFileURL(join(projectRoot, 'package.json')).href);
  // Nothing else is reachable by name: the face is the only way in.
  assert.throws(() => import.meta.resolve('rootfs/dist/src/store/store.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
});

test('every value src/index.ts exports is defined at run time', () => {
  const source = readFileSync(join(projectRoot, 'src/index.ts'), 'utf8');
  // Value names only: `type X` entries and `export type { … }` lines leave nothing at run time.
  const declared = [...source.matchAll(/^export \{([^}]*)\} from /gm)].flatMap((match) => match[1]!.split(',').map((name) => name.trim())).filter((name) => !name.startsWith('type '));
  assert.ok(declared.length > 30, `only ${declared.length} names parsed from src/index.ts`);
  const missing = declared.filter((name) => (face as Record<string, unknown>)[name] === undefined);
  assert.deepEqual(missing, []);
  assert.deepEqual(Object.keys(face).sort(), [...declared].sort());
});

test('through the face: pack a tree, import its tar, list the store, save an OCI layout and load it into another store', async (t) => {
  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'face\n');
  const tar = join(dir, 'root.tar');
  const summary = await packTo(root, tar);
  assert.ok(summary.entries.file >= 1, JSON.stringify(summary.entries));

  const store = await Store.open(join(dir, 'store'));
  const layout = join(dir, 'layout');
  try {
    const imported = await importTarball(store, createReadStream(tar), { source: tar, tags: [parseReference('face:1')], created: new Date('2024-01-02T03:04:05Z') });
    const rows = await listImages(store);
    assert.deepEqual(rows.map(({ repository, tag, id, created }) => ({ repository, tag, id, created })), [{ repository: 'face', tag: '1', id: imported.imageId, created: '2024-01-02T03:04:05Z' }]);
    const saved = await saveImages(store, ['face:1'], layout, { format: 'oci', stdout: new PassThrough() });
    assert.equal(saved.images.length, 1);
  } finally {
    await store.close();
  }
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
  assert.deepEqual(index.manifests.map((entry) => entry.annotations?.['org.opencontainers.image.ref.name']), ['face:1']);

  const other = await Store.open(join(dir, 'other'));
  try {
    const loaded = await loadArchive(other, { format: 'oci', path: layout, ref: undefined });
    assert.deepEqual(loaded.images.map((image) => image.tags), [['face:1']]);
    const image = await resolveImage(other, 'face:1');
    assert.equal(image.config.rootfs.diff_ids.length, 1);
    // A typed error, with its exit code, is what a caller catches.
    await assert.rejects(resolveImage(other, 'absent:1'), (err: unknown) => err instanceof NotFoundError && err.exitCode === ExitCode.NotFound);
  } finally {
    await other.close();
  }
});

test("what images lists, rmi removes, export writes and import reads are the library's, not the CLI's", async (t) => {
  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'face\n');
  const store = await Store.open(join(dir, 'store'));
  try {
    const tree = { directory: () => ({}), tarball: () => undefined };
    const source = await openImportSource(root);
    assert.equal(source.kind, 'directory');
    const made = await importImage(store, source, { tags: [parseReference('face:1'), parseReference('face:2')] });
    assert.equal(made.kind, 'layer');
    assert.equal(made.inputCompression, 'directory');
    await assert.rejects(openImportSource(root, { force: true }), (err: unknown) => err instanceof UsageError && /is a directory/.test(err.message));

    assert.deepEqual((await listImages(store, { filter: imageFilter(['reference=face:2']) })).map((row) => row.name), ['face:2']);
    assert.deepEqual(await listImages(store, { filter: imageFilter(['dangling=true']) }), []);
    assert.throws(() => imageFilter(['size=1']), UsageError);
    // The directory keeps its time, so that the file is the one difference whenever the clock's second turns.
    const etc = statSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/added'), 'new\n');
    utimesSync(join(root, 'etc'), etc.atime, etc.mtime);
    assert.deepEqual((await diffImage(store, 'face:1', root, { tree })).differences.map(({ kind, path }) => `${kind} ${path}`), ['A /etc/added']);
    await assert.rejects(diffImage(store, 'face:1', 'face:2', { tree, treeOptionsGiven: true }), UsageError);
    const [inspected] = await inspectImages(store, ['face:1']);
    assert.deepEqual([inspected!.Id, [...inspected!.RepoTags].sort()], [made.imageId, ['face:1', 'face:2']]);

    const tar = join(dir, 'face.tar');
    const exported = await exportImage(store, 'face:1', tar);
    assert.equal(exported.id, made.imageId);
    assert.equal(exported.bytes, statSync(tar).size);
    assert.ok(readFileSync(tar).includes('etc/hostname'), 'the exported tar lacks etc/hostname');
    // append adds a tarball given no tree option as it is, a directory as a tree.
    const plain = await openAppendInput(tar, tree);
    assert.ok('tar' in plain);
    plain.tar.destroy();
    assert.ok('members' in (await openAppendInput(root, tree)));

    // An ID with two names is refused whole, then removes both with force.
    await assert.rejects(removeImages(store, [made.imageId]), (err: unknown) => err instanceof UsageError && err.exitCode === ExitCode.Usage);
    assert.equal((await listImages(store)).length, 2);
    const removed = await removeImages(store, [made.imageId], { force: true });
    assert.deepEqual({ untagged: [...removed.untagged].sort(), deleted: removed.deleted }, { untagged: ['face:1', 'face:2'], deleted: [made.imageId] });
    assert.deepEqual(await listImages(store), []);
  } finally {
    await store.close();
  }
});

test("what sbom and verify read is the library's: a path is a tree, anything else an image", async (t) => {
  const dir = makeTempDir(t);
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
  const tree = { directory: () => ({}), tarball: () => undefined };
  const noStore = (): never => assert.fail('a tree needs no store');
  const sbom = await sbomOf(dir, { tree, toolVersion: 'test', withStore: noStore });
  assert.equal(sbom.format, 'spdx');
  assert.deepEqual(sbom.inventory?.packages, []);
  await assert.rejects(sbomOf(dir, { tree, toolVersion: 'test', attach: true, withStore: noStore }), (err: unknown) => err instanceof UsageError && /is a path/.test(err.message));
  await assert.rejects(sbomOf('absent-image:1', { tree, toolVersion: 'test', treeOptionsGiven: true, withStore: noStore }), (err: unknown) => err instanceof UsageError && /is an image/.test(err.message));
  assert.deepEqual(await Promise.all([dir, './missing', 'set.parts.json', 'base:1'].map(namesPartSet)), [true, true, true, false]);
});
