/**
 * How a command opens the store (issue 19, item 6): a command that only reads
 * never creates one, and says "not found" (4) naming it; a command that writes
 * creates it, and removes it again if it fails or is interrupted before the
 * store holds an image. A reader counts what killed commands left; gc removes it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliPath, makeTempDir, requireRoot, requireTools, rootfs, run, runOk, waitFor, watching } from './helpers.js';
import { describeTree } from './tree.js';

/** A small directory tree and its tarball, for imports that succeed. */
async function smallTarball(work: string): Promise<string> {
  mkdirSync(join(work, 'root', 'etc'), { recursive: true });
  writeFileSync(join(work, 'root', 'etc', 'hostname'), 'box\n');
  const tarball = join(work, 'root.tar');
  await runOk('tar', ['-C', join(work, 'root'), '-cf', tarball, '.']);
  return tarball;
}

test('read-only commands on a missing store exit 4 naming it and create nothing, for every one of them', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'no', 'dir', 'x');
  const out = join(work, 'out');
  mkdirSync(out);
  await runOk(process.execPath, [cliPath, 'keygen', '-o', join(work, 'site')], { env: { ROOTFS_KEY_PASSWORD: 'x' } });
  const readers = [
    ['images'],
    ['inspect', 'a:1'],
    ['history', 'a:1'],
    ['config', 'a:1'],
    ['have'],
    ['verify', 'a:1', '--key', join(work, 'site.pub')],
    ['save', 'a:1', '-o', join(out, 'a.tar')],
    ['export', 'a:1', '-o', join(out, 'a-fs.tar')],
    ['unpack', 'a:1', join(out, 'bundle')],
    ['diff', 'a:1', 'a:2'],
    ['push', 'a:1', 'localhost:1/a:1'],
    ['copy', 'rootfs:a:1', `oci:${join(out, 'layout')}:a:1`],
  ];
  for (const args of readers) {
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, 4, `${args[0]}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^rootfs: ${store}: no image store here`), args[0]);
    assert.equal(existsSync(join(work, 'no')), false, `${args[0]} created the store`);
  }
  assert.deepEqual(readdirSync(out), [], 'no output either');
  // /proc does not let a directory be made in it: the same 4 for every reader, 5 for a writer.
  assert.equal((await rootfs(['--store', '/proc/rootfs-nonexistent', 'images'])).code, 4);
  assert.equal((await rootfs(['--store', '/proc/rootfs-nonexistent', 'history', 'a:1'])).code, 4);
  assert.equal((await rootfs(['--store', '/proc/rootfs-nonexistent', 'tag', 'a:1', 'b:1'])).code, 5);
});

test('writes create a missing store; a write that fails leaves none, nor the directories made for it', async (t) => {
  const work = makeTempDir(t);
  const tarball = await smallTarball(work);
  const store = join(work, 'a', 'b', 'store');
  for (const args of [['tag', 'a:1', 'b:1'], ['rmi', 'a:1'], ['load', '-i', tarball], ['import', join(work, 'absent.tar'), 'x:1']]) {
    const result = await rootfs(['--store', store, ...args]);
    assert.notEqual(result.code, 0, args[0]);
    assert.equal(existsSync(join(work, 'a')), false, `${args[0]} failed and left ${join(work, 'a')}: ${result.stderr}`);
  }
  // A directory that was there, empty, stays, empty.
  const empty = join(work, 'empty');
  mkdirSync(empty);
  assert.equal((await rootfs(['--store', empty, 'tag', 'a:1', 'b:1'])).code, 4);
  assert.deepEqual(readdirSync(empty), []);

  const imported = await rootfs(['--store', store, 'import', tarball, 'x:1']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.ok(existsSync(join(store, 'oci-layout')));
  const images = await rootfs(['--store', store, 'images', '--json']);
  assert.deepEqual(JSON.parse(images.stdout.toString()).map((image: { name: string }) => image.name), ['x:1']);
  // A write that fails on a store that was there changes nothing in it.
  const before = describeTree(store);
  assert.equal((await rootfs(['--store', store, 'tag', 'absent:1', 'b:1'])).code, 4);
  assert.deepEqual(describeTree(store), before);
});

test('an import interrupted on the store it created leaves no store behind', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'a', 'store');
  const child = spawn(process.execPath, [cliPath, '--store', store, 'import', '-', 'x:1'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Half a tar: the import has made its store and waits on this pipe for the rest.
  child.stdin.write(Buffer.alloc(1024));
  await waitFor('the import to make its store', () => existsSync(join(store, 'oci-layout')), [watching(work)], 20_000);
  child.kill('SIGINT');
  assert.equal(await exit, 130, stderr);
  assert.equal(existsSync(join(work, 'a')), false, 'the new store is gone');
});

test('a reader says how much killed commands left and removes nothing; a writer removes it', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  await runOk(process.execPath, [cliPath, '--store', store, 'import', await smallTarball(work), 'x:1']);
  const dead = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => dead.on('close', resolve));
  const leftover = join(store, '.rootfs', 'tmp', `blob-${dead.pid}-0123456789ab`);
  writeFileSync(leftover, Buffer.alloc(3 << 20));
  const before = describeTree(store);
  for (const args of [['images'], ['inspect', 'x:1'], ['history', 'x:1']]) {
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '3MiB of leftovers from killed commands: rootfs gc\n', args[0]);
  }
  assert.deepEqual(describeTree(store), before, 'a reader removes nothing');
  assert.equal((await rootfs(['--store', store, 'tag', 'x:1', 'y:1'])).code, 0);
  assert.equal(existsSync(leftover), false, 'a writer removes it');
  assert.equal((await rootfs(['--store', store, 'images'])).stderr, '');
});

test('a HOME this user may not read is named as the cause, for the default store and for the credentials file', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'setpriv')) return;
  const work = makeTempDir(t);
  chmodSync(work, 0o755);
  const home = join(work, 'root-home');
  mkdirSync(home, { mode: 0o700 });
  const writable = join(work, 'shared');
  mkdirSync(writable);
  chmodSync(writable, 0o777);
  const asNobody = (args: string[]) =>
    run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'ROOTFS_STORE', '-u', 'XDG_DATA_HOME', '-u', 'DOCKER_CONFIG', '-u', 'REGISTRY_AUTH_FILE', `HOME=${home}`, process.execPath, cliPath, ...args]);
  for (const args of [['images'], ['tag', 'a:1', 'b:1']]) {
    const result = await asNobody(args);
    assert.equal(result.code, 5, result.stderr);
    assert.equal(result.stderr, `rootfs: HOME=${home} is not readable by user nobody, and the store ${home}/.local/share/rootfs is under it: set HOME to this user's home directory\n`);
  }
  const pull = await asNobody(['--store', join(writable, 'store'), 'pull', 'localhost:5000/a:1']);
  assert.equal(pull.code, 5, pull.stderr);
  assert.match(pull.stderr, new RegExp(`^rootfs: HOME=${home} is not readable by user nobody, and the credentials file ${home}/\\.docker/config\\.json is under it`));
  assert.deepEqual(readdirSync(writable), [], 'the failed pull left no store');
});
