/**
 * What a docker user meets first in the store: untagged images (import
 * without REF) that every command takes by ID and gc keeps, one resolver for
 * names and IDs, images/inspect --format, rmi -f, docker's `image …`
 * spellings, usage errors in one wording, and the suggestions a miss gets.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MediaType, type Index } from '../src/oci/types.js';
import { cliPath, makeTempDir, rootfs, runOk } from './helpers.js';
import { buildImage, buildMultiPlatformImage, withStore } from './store-fixture.js';

/** A small root filesystem tarball, with the absolute symlink every Debian root has. */
async function rootTar(dir: string, name = 'root.tar'): Promise<string> {
  const root = join(dir, `tree-${name}`);
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  writeFileSync(join(root, 'etc', 'hostname'), `${name}\n`);
  await runOk('ln', ['-s', '/usr/bin/mawk', join(root, 'usr', 'bin', 'awk')]);
  const file = join(dir, name);
  await runOk('tar', ['--numeric-owner', '-C', root, '-cf', file, '.']);
  return file;
}

function indexOf(store: string): Index {
  return JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as Index;
}

async function ok(args: string[], input?: string): Promise<string> {
  const result = await rootfs(args, input === undefined ? {} : { input });
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.toString();
}

test('import without REF: the printed ID works in tag, inspect, save, export, squash and unpack; images shows <none>; gc keeps it; rmi by ID removes it', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const id = (await ok(['--store', store, 'import', await rootTar(dir)])).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  assert.equal(indexOf(store).manifests.length, 1, 'the untagged image has an index.json entry');
  assert.equal(indexOf(store).manifests[0]!.annotations, undefined, 'and no name');

  const table = (await ok(['--store', store, 'images'])).trimEnd().split('\n');
  assert.deepEqual(table[1]!.split(/ {2,}/).slice(0, 3), ['<none>', '<none>', id.slice(7, 19)]);
  assert.equal(await ok(['--store', store, 'images', '--filter', 'dangling=true', '-q']), `${id.slice(7, 19)}\n`);
  assert.equal(await ok(['--store', store, 'images', '--filter', 'dangling=false', '-q']), '');

  const gc = await ok(['--store', store, 'gc', '--json']);
  assert.deepEqual(JSON.parse(gc).removed, [], 'gc deletes nothing an index.json entry reaches');

  for (const form of [id, id.slice(7), id.slice(0, 19), id.slice(7, 19)]) {
    const inspected = JSON.parse(await ok(['--store', store, 'inspect', form]));
    assert.equal(inspected[0].Id, id, `inspect ${form}`);
    assert.deepEqual(inspected[0].RepoTags, []);
  }
  await ok(['--store', store, 'save', id.slice(7, 19), '-o', join(dir, 'saved.tar')]);
  await ok(['--store', store, 'export', id.slice(0, 16), '-o', join(dir, 'export.tar')]);
  assert.match((await runOk('tar', ['-tf', join(dir, 'export.tar')])).stdout.toString(), /etc\/hostname/);
  await ok(['--store', store, 'unpack', id.slice(7, 19), join(dir, 'unpacked')]);
  assert.equal(readFileSync(join(dir, 'unpacked', 'etc', 'hostname'), 'utf8'), 'root.tar\n');
  const squashed = (await ok(['--store', store, 'squash', id.slice(7, 19)])).trim();
  assert.match(squashed, /^sha256:/);

  await ok(['--store', store, 'tag', id.slice(7, 19), 'named:1']);
  assert.deepEqual(
    indexOf(store).manifests.filter((entry) => entry.annotations === undefined).length,
    1,
    'once named, the image is no longer <none> (the squashed one still is)',
  );
  assert.equal(JSON.parse(await ok(['--store', store, 'inspect', 'named:1']))[0].Id, id);

  // rmi of a dangling image by ID removes its entry; gc then reclaims its blobs.
  const removed = await ok(['--store', store, 'rmi', squashed.slice(7, 19)]);
  assert.equal(removed, `Deleted: ${squashed}\n`);
  assert.equal(await ok(['--store', store, 'images', '--filter', 'dangling=true', '-q']), '');
  const reclaimed = JSON.parse(await ok(['--store', store, 'gc', '--json'])).removed as string[];
  assert.ok(reclaimed.includes(squashed), 'the removed image\'s config went at gc');
  assert.equal(JSON.parse(await ok(['--store', store, 'inspect', 'named:1']))[0].Id, id, 'the named image stays');
});

test('load without a name keeps the image; image prune (gc --dangling) removes the <none> images and their blobs', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const kept = (await ok(['--store', store, 'import', await rootTar(dir, 'a.tar'), 'kept:1'])).trim();
  const loose = (await ok(['--store', store, 'import', await rootTar(dir, 'b.tar')])).trim();
  const pruned = await ok(['--store', store, 'image', 'prune', '-f']);
  assert.match(pruned, new RegExp(`deleted: ${loose}`));
  assert.equal(await ok(['--store', store, 'images', '-q', '--no-trunc']), `${kept}\n`);
  const missing = await rootfs(['--store', store, 'inspect', loose]);
  assert.equal(missing.code, 4);
});

test('one resolver: a name that looks like a short ID is a name first (squash abcd retags abcd:latest); a short ID of a broken image is exit 3 as by name', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  const { hexName, broken } = await withStore(store, async (opened) => {
    const hexName = await buildImage(opened, work, { name: 'abcd:latest', content: 'abcd' });
    // A manifest whose config has no rootfs: not an image config.
    const config = await opened.putBlob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' })));
    const manifest = { schemaVersion: 2, mediaType: MediaType.ImageManifest, config: { mediaType: MediaType.ImageConfig, ...config }, layers: [hexName.layer] };
    const descriptor = { mediaType: MediaType.ImageManifest, ...(await opened.putBlob(Buffer.from(JSON.stringify(manifest)))) };
    await opened.addUntagged(descriptor);
    return { hexName, broken: config.digest };
  });
  const squashed = await rootfs(['--store', store, 'squash', 'abcd']);
  assert.equal(squashed.code, 0, squashed.stderr);
  assert.match(squashed.stderr, /tagged abcd:latest/);
  const now = JSON.parse(await ok(['--store', store, 'inspect', 'abcd:latest']))[0];
  assert.notEqual(now.Id, hexName.configDigest, 'abcd:latest is the squashed image now');

  for (const text of [broken.slice(7, 19), broken]) {
    const result = await rootfs(['--store', store, 'squash', text]);
    assert.equal(result.code, 3, `squash ${text}: ${result.stderr}`);
    assert.match(result.stderr, /^rootfs: .*: not an image config \(no rootfs\.diff_ids\)\n$/);
  }
});

test('images: -q gives each image once for rmi $(images -q); --digests, --no-trunc, --format, --filter reference and images REPOSITORY', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  const { base, app } = await withStore(store, async (opened) => {
    const base = await buildImage(opened, work, { name: 'base:1', content: 'base', created: '2020-01-01T00:00:00Z' });
    await opened.tag((await import('../src/oci/reference.js')).parseReference('base:alias'), base.manifest);
    const app = await buildImage(opened, work, { name: 'registry:5000/ns/app:1.0', content: 'app', created: '2021-01-01T00:00:00Z' });
    return { base, app };
  });
  const short = (digest: string): string => digest.slice(7, 19);
  assert.equal(await ok(['--store', store, 'images', '-q']), `${short(app.configDigest)}\n${short(base.configDigest)}\n`);
  assert.equal(await ok(['--store', store, 'images', '--quiet', '--no-trunc']), `${app.configDigest}\n${base.configDigest}\n`);

  const digests = (await ok(['--store', store, 'images', '--digests'])).split('\n');
  assert.match(digests[0]!, /^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE$/);
  assert.ok(digests[1]!.includes(app.manifest.digest));

  assert.equal(await ok(['--store', store, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']), `registry:5000/ns/app:1.0 ${short(app.configDigest)}\nbase:1 ${short(base.configDigest)}\nbase:alias ${short(base.configDigest)}\n`);
  assert.equal(await ok(['--store', store, 'images', 'base:alias', '--format', '{{.Digest}} {{.CreatedAt}}']), `${base.manifest.digest} 2020-01-01 00:00:00 +0000 UTC\n`);
  const json = (await ok(['--store', store, 'images', 'base', '--format', 'json'])).trimEnd().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(json.map((row) => `${row.Repository}:${row.Tag}`), ['base:1', 'base:alias']);
  assert.equal(json[0].ID, short(base.configDigest));
  const table = (await ok(['--store', store, 'images', '--format', 'table {{.Repository}}\\t{{.Size}}', '--filter', 'reference=registry:5000/*/*'])).trimEnd().split('\n');
  assert.deepEqual(table.map((line) => line.split(/ {2,}/)), [['REPOSITORY', 'SIZE'], ['registry:5000/ns/app', `${app.layer.size}B`]]);
  assert.equal(await ok(['--store', store, 'images', '-q', '--filter', 'reference=b*']), `${short(base.configDigest)}\n`);

  const badField = await rootfs(['--store', store, 'images', '--format', '{{.Nope}}']);
  assert.equal(badField.code, 2);
  assert.match(badField.stderr, /^rootfs: --format "\{\{\.Nope\}\}": no field "Nope"/);
  const badFilter = await rootfs(['--store', store, 'images', '--filter', 'label=x']);
  assert.equal(badFilter.code, 2);

  // An ID with several names needs -f, as in docker; rmi -f $(images -q) empties the store.
  const refused = await rootfs(['--store', store, 'rmi', short(base.configDigest)]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /is tagged base:1, base:alias: remove the tags by name, or all of them with rmi -f/);
  const ids = (await ok(['--store', store, 'images', '-q'])).trim().split('\n');
  const removed = await ok(['--store', store, 'rmi', '-f', ...ids]);
  const lines = removed.trim().split('\n');
  assert.deepEqual(lines.filter((line) => line.startsWith('Untagged: ')).sort(), ['Untagged: base:1', 'Untagged: base:alias', 'Untagged: registry:5000/ns/app:1.0']);
  assert.deepEqual(lines.filter((line) => line.startsWith('Deleted: ')).map((line) => line.slice(16, 28)).sort(), [...ids].sort(), 'each image is Deleted once its last name goes (rmi -f too), as docker says');
  assert.deepEqual(indexOf(store).manifests, []);
});

test('inspect --format/-f with docker\'s field names; a miss suggests the closest names; a missing platform lists those there are', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  const { base } = await withStore(store, async (opened) => {
    const base = await buildImage(opened, work, { name: 'deb:3', content: 'deb' });
    await buildMultiPlatformImage(opened, work, 'multi:1');
    return { base };
  });
  assert.equal(await ok(['--store', store, 'inspect', '-f', '{{.Id}}', 'deb:3']), `${base.configDigest}\n`);
  assert.equal(
    await ok(['--store', store, 'inspect', '--format', '{{.RepoTags}} {{json .RepoDigests}} {{.Os}}/{{.Architecture}} {{.Config.Cmd}} {{index .RootFS.Layers 0}} {{.Size}} {{.Created}}', 'deb:3']),
    `[deb:3] ["deb@${base.manifest.digest}"] linux/amd64 [/bin/sh] ${base.diffId} ${base.layer.size} 2024-01-02T03:04:05Z\n`,
  );
  assert.equal(await ok(['--store', store, 'image', 'inspect', '-f', '{{len .RepoTags}} {{join .RepoTags ","}}', base.configDigest.slice(7, 19)]), '1 deb:3\n');

  const miss = await rootfs(['--store', store, 'inspect', 'deb']);
  assert.equal(miss.code, 4);
  assert.equal(miss.stderr, 'rootfs: no such image: deb (did you mean deb:3?)\n');
  const typo = await rootfs(['--store', store, 'tag', 'mutli:1', 'x:1']);
  assert.equal(typo.code, 4);
  assert.match(typo.stderr, /no such image: mutli:1 \(did you mean multi:1\?\)/);

  const platform = await rootfs(['--store', store, 'save', 'multi:1', '--platform', 'linux/s390x', '-o', join(work, 'x.tar')]);
  assert.equal(platform.code, 4);
  assert.match(platform.stderr, /no manifest for platform linux\/s390x \(the index has linux\/amd64, linux\/arm64\/v8\); choose one with --platform\n$/);
  assert.ok(!existsSync(join(work, 'x.tar')));
  // The same words from a classic docker archive's images, and from an OCI archive's index.
  for (const format of ['docker-legacy', 'oci-archive']) {
    const archive = join(work, `${format}.tar`);
    await ok(['--store', store, 'save', format === 'docker-legacy' ? 'deb:3' : 'multi:1', '--format', format, '-o', archive]);
    const loaded = await rootfs(['--store', join(work, format), 'load', '-i', archive, '--platform', 'linux/s390x']);
    assert.equal(loaded.code, 4, loaded.stderr);
    assert.match(loaded.stderr, format === 'docker-legacy' ? /no manifest for platform linux\/s390x \(the archive has linux\/amd64\); choose one with --platform\n$/ : /no manifest for platform linux\/s390x \(the index has linux\/amd64, linux\/arm64\/v8\)/);
  }

  // rmi NAME@DIGEST removes that name's entry for the digest only, as docker's.
  await ok(['--store', store, 'tag', 'deb:3', 'other:1']);
  assert.equal(await ok(['--store', store, 'rmi', `deb@${base.manifest.digest}`]), `Untagged: deb@${base.manifest.digest}\n`);
  assert.equal(await ok(['--store', store, 'images', '-q', 'other']), `${base.configDigest.slice(7, 19)}\n`);
});

test('usage errors: one wording, ours, with the command\'s usage line, exit 2; help CMD; --no-x flags not shown as (default: true)', async (t) => {
  const store = join(makeTempDir(t), 'store');
  const cases: Array<[string[], string]> = [
    [['images', '--digestz'], 'rootfs: images: unknown option --digestz; usage: rootfs images [reference] [options]\n'],
    [['tag', 'deb'], 'rootfs: tag: missing <target>; usage: rootfs tag <source> <target> [options]\n'],
    [['tag'], 'rootfs: tag: missing <source> <target>; usage: rootfs tag <source> <target> [options]\n'],
    [['export', 'a', 'b'], 'rootfs: export: too many arguments: "b"; usage: rootfs export <ref> [options]\n'],
    [['split', 'f', '--size'], 'rootfs: split: --size needs a value; usage: rootfs split <file> [options]\n'],
    [['gc', '--all-platforms'], 'rootfs: gc: unknown option --all-platforms; usage: rootfs gc [options]\n'],
  ];
  for (const [args, stderr] of cases) {
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, 2, args.join(' '));
    assert.equal(result.stderr, stderr);
  }
  const help = await rootfs(['help', 'gc']);
  assert.equal(help.code, 0);
  assert.match(help.stdout.toString(), /\$ rootfs gc/);
  const wait = help.stdout.toString().split('\n').find((line) => line.includes('--no-wait'))!;
  assert.ok(!wait.includes('default'), wait);
  const pack = (await rootfs(['pack', '--help'])).stdout.toString().split('\n').find((line) => line.includes('--no-default-excludes'))!;
  assert.ok(!pack.includes('(default: true)'), pack);
  const unknown = await rootfs(['help', 'frob']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stdout.toString(), '', 'no help printed before the error');
  assert.equal(unknown.stderr, "rootfs: unknown command 'frob' (see rootfs --help)\n");
  assert.equal((await rootfs(['image', 'frob'])).code, 2);
  assert.equal((await rootfs(['--store', store, 'gc'])).code, 0);
  const ls = await rootfs(['--store', store, 'image', 'ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout.toString(), /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\n$/);
});

test('plurals, export -o summary and --json, and parts of stdin named after -o', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await ok(['--store', store, 'import', await rootTar(dir), 'one:1']);
  await ok(['--store', store, 'rmi', 'one:1']);
  const gc = await ok(['--store', store, 'gc']);
  assert.match(gc, /\(3 blobs, 0 temp files\)\n$/);
  await ok(['--store', store, 'import', await rootTar(dir, 'two.tar'), 'two:1']);
  const tmp = join(store, '.rootfs', 'tmp');
  writeFileSync(join(tmp, 'left-over'), 'x');
  assert.match(await ok(['--store', store, 'gc']), /\(0 blobs, 1 temp file\)\n$/);

  const exported = await rootfs(['--store', store, 'export', 'two:1', '-o', join(dir, 'two-fs.tar')]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stderr, /^Exported two:1 \(1 layer merged\) to .*two-fs\.tar: \d+(\.\d+)?(?:[KMGT]i)?B of tar\n$/);
  const json = await rootfs(['--store', store, 'export', 'two:1', '-o', join(dir, 'two-fs2.tar'), '--json']);
  const document = JSON.parse(json.stdout.toString());
  assert.equal(document.output, join(dir, 'two-fs2.tar'));
  assert.equal(document.bytes, readFileSync(join(dir, 'two-fs2.tar')).length);
  assert.equal(document.layers, 1);

  const parts = join(dir, 'media', 'centos7');
  const split = await rootfs(['split', '-', '--size', '1M', '-o', parts], { input: readFileSync(join(dir, 'two-fs.tar')) });
  assert.equal(split.code, 0, split.stderr);
  assert.deepEqual(readdirSync(parts).sort(), ['centos7.part0001', 'centos7.parts.json']);
  assert.match(split.stderr, /in 1 part of at most/);
});

test('mix-ups: load of a filesystem tarball and import of an image archive name the command meant, and change nothing', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const fsTar = await rootTar(dir);
  await ok(['--store', store, 'import', fsTar, 'fs:1']);
  const before = readFileSync(join(store, 'index.json'));
  const blobs = readdirSync(join(store, 'blobs', 'sha256')).sort();

  for (const input of [['-i', fsTar], []]) {
    const loaded = await rootfs(['--store', store, 'load', ...input], input.length === 0 ? { input: readFileSync(fsTar) } : {});
    assert.equal(loaded.code, 3);
    assert.match(loaded.stderr, /^rootfs: (.*root\.tar|stdin): not an image archive: it starts with 'etc', .* rootfs import (.*root\.tar|-) \[REF\]\n$/);
  }
  for (const format of ['docker-archive', 'docker-legacy', 'oci-archive']) {
    const archive = join(dir, `${format}.tar`);
    await ok(['--store', store, 'save', 'fs:1', '--format', format, '-o', archive]);
    const imported = await rootfs(['--store', store, 'import', archive, 'wrong:1']);
    assert.equal(imported.code, 3, format);
    assert.match(imported.stderr, new RegExp(`^rootfs: ${archive.replace(/[.]/g, '\\.')}: an image archive .*use rootfs load -i ${archive.replace(/[.]/g, '\\.')}; import --force`));
  }
  assert.ok(readFileSync(join(store, 'index.json')).equals(before), 'nothing tagged');
  assert.deepEqual(readdirSync(join(store, 'blobs', 'sha256')).sort(), blobs, 'no blob committed');
  assert.deepEqual(readdirSync(join(store, '.rootfs', 'tmp')), [], 'no temp file left');

  const forced = await rootfs(['--store', store, 'import', '--force', join(dir, 'docker-archive.tar'), 'files:1']);
  assert.equal(forced.code, 0, forced.stderr);
  await ok(['--store', store, 'export', 'files:1', '-o', join(dir, 'files.tar')]);
  assert.match((await runOk('tar', ['-tf', join(dir, 'files.tar')])).stdout.toString(), /manifest\.json/);
});

test('import DIR --base reads "1 file", not "1 files"', async (t) => {
  const dir = makeTempDir(t);
  const env = { ROOTFS_STORE: join(dir, 'store') };
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'a'), 'a\n');
  await runOk(process.execPath, [cliPath, 'import', root, 'b:1'], { env });
  writeFileSync(join(root, 'etc', 'b'), 'b\n');
  const result = await rootfs(['import', root, 'b:2', '--base', 'b:1'], { env });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /read from 1 file\b/);
  assert.doesNotMatch(result.stderr, /\b1 files\b/);
});
