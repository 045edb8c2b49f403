/**
 * What a docker user meets first in the store: untagged images (import
 * without REF) that every command takes by ID and gc keeps, one resolver for
 * names and IDs, images/inspect --format, rmi -f, docker's `image …`
 * spellings, usage errors in one wording, and the suggestions a miss gets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Index } from '../src/oci/types.js';
import { cliPath, makeTempDir, pastTheCaptureMargin, requireTools, rootfs, runOk } from './helpers.js';
import { startRegistry } from './registry-server.js';
import { writeKeys } from './trust-fixture.js';
import { buildImage, buildMultiPlatformImage, makeImage, putImage, snapshot, withStore } from './fixtures.js';

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
    const layer = { blob: await opened.readBlob(hexName.layer.digest), descriptor: hexName.layer, diffId: hexName.diffId };
    const image = makeImage([layer], { config: Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' })) });
    await opened.addUntagged(await putImage(opened, image));
    return { hexName, broken: image.configDigest };
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
  assert.match(badField.stderr, /^rootfs: images: --format "\{\{\.Nope\}\}": no field "Nope".*; usage: rootfs images \[reference\] \[options\]\n$/);
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
    [['images', '--digestz'], 'rootfs: images: unknown option --digestz (did you mean --digests?); usage: rootfs images [reference] [options]\n'],
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
  // Else etc/a, changed within a second of the capture, is read too (to be hashed: docs/incremental.md).
  await pastTheCaptureMargin(root);
  await runOk(process.execPath, [cliPath, 'import', root, 'b:1'], { env });
  writeFileSync(join(root, 'etc', 'b'), 'b\n');
  const result = await rootfs(['import', root, 'b:2', '--base', 'b:1'], { env });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /read from 1 file\b/);
  assert.doesNotMatch(result.stderr, /\b1 files\b/);
});

/** The commands `rootfs --help` lists, from its Commands section. */
async function listedCommands(): Promise<string[]> {
  const help = (await rootfs(['--help'])).stdout.toString();
  const section = help.slice(help.indexOf('Commands:'), help.indexOf('\n\n', help.indexOf('Commands:')));
  return [...section.matchAll(/^ {2}(\S+)/gm)].map((match) => match[1]!);
}

test('every usage error has the one form, names the command and its usage; typos get "did you mean"; rootfs image prints its help; --help ends in one line', async (t) => {
  const store = join(makeTempDir(t), 'store');
  const cases: Array<[string[], string]> = [
    [['imgaes'], 'rootfs: imgaes: unknown command (did you mean images?); usage: rootfs COMMAND [options]\n'],
    [['help', 'frob'], 'rootfs: frob: unknown command (rootfs --help lists them); usage: rootfs COMMAND [options]\n'],
    [['import', 'x', '--compresion', 'zstd'], 'rootfs: import: unknown option --compresion (did you mean --compression?); usage: rootfs import <file> [ref] [options]\n'],
    // An unknown option before the command would take the command as its value, and print the help, exit 0.
    [['--jsn', 'images'], 'rootfs: images: unknown option --jsn (did you mean --json?); usage: rootfs images [reference] [options]\n'],
    [['--compresion'], 'rootfs: unknown option --compresion; usage: rootfs COMMAND [options]\n'],
    [['image', 'lss'], 'rootfs: image: unknown command "lss" (did you mean ls or list?); it takes ls, list, rm, remove, inspect, tag, save, load, import, push, pull, prune; usage: rootfs image COMMAND [options]\n'],
    // Usage errors found inside a command's work, not by the option parser, take the same form.
    [['split', 'f'], 'rootfs: split: --size is required (for example --size 4G or --size fat32); usage: rootfs split <file> [options]\n'],
    [['tag', 'a:1', 'Bad:Name'], 'rootfs: tag: invalid image reference "Bad:Name": repository name must be lowercase; usage: rootfs tag <source> <target> [options]\n'],
    [['save', 'a:1', '--format', 'zip'], "rootfs: save: --format must be docker-archive, docker-legacy, oci-archive or oci, not 'zip'; usage: rootfs save <...refs> [options]\n"],
  ];
  for (const [args, stderr] of cases) {
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, 2, args.join(' '));
    assert.equal(result.stderr, stderr, args.join(' '));
    assert.equal(result.stdout.length, 0, args.join(' '));
  }
  assert.equal(existsSync(store), false, 'no usage error made the store');

  for (const args of [['image'], ['image', '--help'], ['help', 'image']]) {
    const help = await rootfs(args);
    assert.equal(help.code, 0, `${args.join(' ')}: ${help.stderr}`);
    assert.equal(help.stderr, '');
    assert.match(help.stdout.toString(), /^Usage: rootfs image COMMAND \[options\]\n/, args.join(' '));
    assert.match(help.stdout.toString(), /^ {2}ls +rootfs images$/m);
    assert.match(help.stdout.toString(), /^ {2}prune +rootfs gc --dangling \(asks \[y\/N\] unless -f\)$/m);
  }

  const help = (await rootfs(['--help'])).stdout.toString();
  assert.equal(help.match(/^ {2}\$ rootfs .*--help/gm)?.length, 1, 'one line on how to get a command\'s help, not one per command');
  assert.ok((await listedCommands()).length > 25);
});

test('image prune (gc --dangling) asks first: with no terminal and no -f it refuses (2) and the store is unchanged; -f removes', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const id = (await ok(['--store', store, 'import', await rootTar(dir)])).trim();
  const before = snapshot(store);
  for (const args of [['image', 'prune'], ['gc', '--dangling']]) {
    const refused = await rootfs(['--store', store, ...args], { input: 'y\n' });
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stderr, 'rootfs: gc: removing the untagged images needs a yes; pass -f (there is no terminal to ask on); usage: rootfs gc [options]\n');
    assert.deepEqual(snapshot(store), before, 'nothing removed');
  }
  const pruned = JSON.parse(await ok(['--store', store, 'image', 'prune', '-f', '--json']));
  assert.deepEqual(pruned.pruned.length, 1);
  assert.equal((await rootfs(['--store', store, 'inspect', id])).code, 4);
});

test('inspect -f prints docker\'s empty values for Config fields an image leaves out: [] and map[], not <no value>', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await ok(['--store', store, 'import', await rootTar(dir), 'bare:1']);
  await ok(['--store', store, 'import', await rootTar(dir, 'env.tar'), 'env:1', '-c', 'ENV A=1', '-c', 'LABEL l=v']);
  assert.equal(await ok(['--store', store, 'inspect', '-f', '{{.Config.Env}} {{.Config.Cmd}} {{.Config.Labels}} {{.Config.Entrypoint}} [{{.Config.User}}]', 'bare:1']), '[] [] map[] [] []\n');
  assert.equal(await ok(['--store', store, 'inspect', '-f', '{{.Config.Env}} {{.Config.Labels}}', 'env:1']), '[A=1] map[l:v]\n');
  assert.equal(JSON.parse(await ok(['--store', store, 'inspect', 'bare:1']))[0].Config.Env, undefined, 'the JSON is the config as stored');
});

test('--json: every command prints one JSON document, on stdout (on stderr where stdout carries the data)', async (t) => {
  if (!requireTools(t, 'docker-registry', 'htpasswd')) return;
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const registry = await startRegistry(t, { users: { builder: 'pw' } });
  const env = { REGISTRY_AUTH_FILE: join(dir, 'auth.json'), DOCKER_CONFIG: join(dir, 'docker'), ROOTFS_KEY_PASSWORD: undefined };
  const tar = await rootTar(dir);
  const tree = join(dir, 'tree-root.tar');
  await ok(['--store', store, 'import', tar, 'a:1']);
  await ok(['--store', store, 'unpack', 'a:1', join(dir, 'unpacked')]);
  writeFileSync(join(dir, 'unpacked', 'etc', 'new'), 'new\n');
  const at = (name: string): string => join(dir, name);
  const cases: Array<[string, string[], ('stdout' | 'stderr')?, string?]> = [
    ['pack', ['pack', tree, '-o', at('packed.tar')]],
    ['pack', ['pack', tree], 'stderr'],
    ['presets', ['presets']],
    ['import', ['import', tar, 'b:1']],
    ['commit', ['commit', at('unpacked'), 'c:1', '--base', 'a:1']],
    ['diff', ['diff', 'a:1', 'c:1']],
    ['config', ['config', 'a:1']],
    ['append', ['append', 'a:1', tar, 'd:1']],
    ['history', ['history', 'a:1']],
    ['rebase', ['rebase', 'c:1', '--new-base', 'b:1', 'e:1']],
    ['images', ['images']],
    ['images', ['images', '-q']],
    ['tag', ['tag', 'a:1', 'f:1']],
    ['rmi', ['rmi', 'f:1']],
    ['inspect', ['inspect', 'a:1']],
    ['gc', ['gc']],
    ['squash', ['squash', 'c:1', 'g:1']],
    ['export', ['export', 'a:1', '-o', at('export.tar')]],
    ['export', ['export', 'a:1'], 'stderr'],
    ['unpack', ['unpack', 'a:1', at('unpacked2')]],
    ['save', ['save', 'a:1', '-o', at('save.tar')]],
    ['save', ['save', 'a:1'], 'stderr'],
    ['sbom', ['sbom', 'a:1', '-o', at('sbom.json')]],
    ['sbom', ['sbom', 'a:1'], 'stderr'],
    ['load', ['load', '-i', at('save.tar')]],
    ['copy', ['copy', 'rootfs:a:1', `oci-archive:${at('copy.tar')}`]],
    ['keygen', ['keygen', '-o', at('k')]],
    ['sign', ['sign', 'a:1', '--key', at('k.key')]],
    ['split', ['split', at('save.tar'), '--size', '1M', '-o', at('parts')]],
    ['verify', ['verify', at('parts')]],
    ['join', ['join', at('parts'), '-o', at('joined.tar')]],
    ['join', ['join', at('parts'), '-o', '-'], 'stderr'],
    ['have', ['have', '-o', at('have.json')]],
    ['have', ['have']],
    ['login', ['login', registry.host, '-u', 'builder', '--password-stdin'], 'stdout', 'pw\n'],
    ['push', ['push', 'a:1', `${registry.host}/ns/a:1`]],
    ['pull', ['pull', `${registry.host}/ns/a:1`, 'h:1']],
    ['logout', ['logout', registry.host]],
    ['version', ['version']],
  ];
  assert.deepEqual([...new Set(cases.map(([name]) => name))].sort(), (await listedCommands()).sort(), 'every command is tried');
  for (const [, args, stream = 'stdout', input] of cases) {
    const result = await rootfs(['--store', store, '--json', ...args], { env, ...(input !== undefined ? { input } : {}) });
    assert.ok(result.code === 0 || result.code === 1, `${args.join(' ')}: ${result.stderr}`);
    const text = stream === 'stdout' ? result.stdout.toString() : result.stderr.replace(/^rootfs: warning: .*\n/gm, '');
    assert.doesNotThrow(() => JSON.parse(text), `${args.join(' ')}: one JSON document on ${stream}, not ${JSON.stringify(text.slice(0, 200))}`);
  }
  const ids = await rootfs(['--store', store, '--json', 'images', '-q']);
  assert.deepEqual(JSON.parse(ids.stdout.toString()), (await ok(['--store', store, 'images', '-q'])).trim().split('\n'), 'images -q --json lists the IDs -q prints');
  const joined = await rootfs(['--store', store, '--json', 'join', at('parts'), '-o', at('joined2.tar')]);
  assert.deepEqual(JSON.parse(joined.stdout.toString()), { parts: at('parts'), output: at('joined2.tar'), bytes: readFileSync(at('save.tar')).length, repaired: false });
});

test('load -i of a part directory without its manifest says the set is incomplete (as verify does), the store unchanged', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  await ok(['--store', store, 'import', await rootTar(dir), 'fs:1']);
  await ok(['--store', store, 'save', 'fs:1', '-o', join(dir, 'fs.tar')]);
  await ok(['split', join(dir, 'fs.tar'), '--size', '1M', '--force', '-o', join(dir, 'parts')]);
  rmSync(join(dir, 'parts', 'fs.tar.parts.json'));
  const before = snapshot(store);
  const expected = `rootfs: ${join(dir, 'parts')}: no part manifest (*.parts.json): there are parts but no manifest, so the set is incomplete (an interrupted split?)\n`;
  const loaded = await rootfs(['--store', store, 'load', '-i', join(dir, 'parts')]);
  assert.equal(loaded.code, 4, loaded.stderr);
  assert.equal(loaded.stderr, expected);
  assert.deepEqual(snapshot(store), before);
  const verified = await rootfs(['verify', join(dir, 'parts')]);
  assert.equal(verified.stderr, expected, 'the same words as verify');
});

test('save --since says what it left out in its own words, and names --since when its image is missing; oci-archive with referrers notes podman', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'a'), 'a\n');
  await ok(['--store', store, 'import', root, 'app:1']);
  writeFileSync(join(root, 'etc', 'b'), 'b\n');
  await ok(['--store', store, 'import', root, 'app:2', '--base', 'app:1']);
  const since = await rootfs(['--store', store, 'save', 'app:2', '--since', 'app:1', '-o', join(dir, 'delta.tar')]);
  assert.equal(since.code, 0, since.stderr);
  assert.match(since.stderr, /^Left out 1 layer \(\d+B\) of app:1, which the receiving store holds\n/m);
  const missing = await rootfs(['--store', store, 'save', 'app:2', '--since', 'app:0', '-o', join(dir, 'delta2.tar')]);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /^rootfs: --since app:0: no such image: app:0 .*\(--since names an image that this store and the receiving store both hold\)\n$/);
  const legacy = await rootfs(['--store', store, 'save', 'app:2', '--since', 'app:1', '--format', 'docker-legacy', '-o', join(dir, 'delta3.tar')]);
  assert.equal(legacy.code, 2);
  assert.match(legacy.stderr, /^rootfs: save: --since: docker-legacy archives cannot leave layers out/);

  const plain = await rootfs(['--store', store, 'save', 'app:2', '--format', 'oci-archive', '-o', join(dir, 'plain.tar')]);
  assert.doesNotMatch(plain.stderr, /podman/, 'no referrers, no note');
  const { key } = writeKeys(dir, 'site');
  await ok(['--store', store, 'sign', 'app:2', '--key', key]);
  const signed = await rootfs(['--store', store, 'save', 'app:2', '--format', 'oci-archive', '-o', join(dir, 'signed.tar')]);
  assert.equal(signed.code, 0, signed.stderr);
  assert.equal(signed.stderr.split('\n').filter((line) => line.includes('podman')).length, 1, signed.stderr);
  assert.match(signed.stderr, /^podman load \(4\.3\) refuses an oci-archive with referrers: for podman, save with --no-referrers\n/m);
  const without = await rootfs(['--store', store, 'save', 'app:2', '--format', 'oci-archive', '--no-referrers', '-o', join(dir, 'unsigned.tar')]);
  assert.doesNotMatch(without.stderr, /podman/);
});

test('an interrupted push says what the registry already received (harmless, kept there), not "nothing was kept"', { timeout: 120_000 }, async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'big'), randomBytes(32 << 20));
  await ok(['--store', store, 'import', '--compression', 'none', root, 'big:1']);
  // In 1 MiB chunks the big layer is still on its way when the config, pushed beside it, is done: the signal lands between.
  const child = spawn(process.execPath, [cliPath, '--store', store, 'push', 'big:1', `${registry.host}/big:1`, '--chunk-size', '1M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    const first = !/: Pushed$/m.test(stderr);
    stderr += chunk.toString();
    if (first && /: Pushed$/m.test(stderr)) child.kill('SIGINT');
  });
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 130, stderr);
  const host = registry.host.replace(/\./g, '\\.');
  assert.match(stderr, new RegExp(`^rootfs: push interrupted by SIGINT; already sent to ${host}: [12] blobs? \\([\\d.]+[KM]?i?B\\) and no tag; the registry keeps the blobs, which is harmless \\(no tag refers to them until a push completes, and the next push does not send them again\\)\\n$`, 'm'));
  assert.doesNotMatch(stderr, /nothing was kept/);
});

test('the README starts with two set-up commands: one installs with rootfs on PATH and runs the main job, saying how long and what it writes; one runs the tests, saying how long', () => {
  const readme = readFileSync(join(cliPath, '..', '..', 'README.md'), 'utf8');
  const [, block, after] = /^```sh\n([\s\S]*?)```\n([\s\S]*?)\n```sh\n/m.exec(readme)!;
  const [install, tests, ...more] = block!.trimEnd().split('\n');
  assert.deepEqual(more, [], 'exactly two commands');
  assert.match(install!, /^npm install && npm link && rootfs pack \/ \| rootfs import - host:latest && rootfs images$/);
  assert.doesNotMatch(readme, /node bin\/rootfs\.js/, 'every example says rootfs, as it is on PATH');
  assert.equal(tests, 'npm test');
  assert.match(after!, /10 to 20 minutes and writes one compressed layer .* into `\/var\/lib\/rootfs`/);
  assert.match(after!, /A first try in a minute/);
  const [, testing] = /The second line runs the test suite: \*\*about (\d+) minutes\*\*([^\n]*)/.exec(readme)!;
  assert.ok(Number(testing) > 0);
  assert.match(readme, /The second line runs the test suite: .*starts `docker-registry`, `containerd` and `dockerd` itself, each in a temp dir/);
});
