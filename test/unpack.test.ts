import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { native } from '../src/native/index.js';
import { Store } from '../src/store/store.js';
import { makeTempDir, requireRoot, requireTools, rootfs, runOk } from './helpers.js';
import { describeTree } from './tree.js';
import { storeImage, type TarMember, tarOf } from './fixtures.js';

test('unpack matches GNU tar -xp --xattrs of the same layer: device, fifo, setuid, file capability, hardlinks, owners', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'tar', 'setcap')) return;
  const dir = makeTempDir(t);
  const tree = join(dir, 'tree');
  for (const sub of ['bin', 'dev', 'home/user']) mkdirSync(join(tree, sub), { recursive: true });
  writeFileSync(join(tree, 'bin/su'), 'su\n');
  chmodSync(join(tree, 'bin/su'), 0o4755);
  writeFileSync(join(tree, 'bin/ping'), 'ping\n');
  await runOk('setcap', ['cap_net_raw+ep', join(tree, 'bin/ping')]);
  writeFileSync(join(tree, 'bin/busybox'), 'busybox\n');
  linkSync(join(tree, 'bin/busybox'), join(tree, 'bin/sh'));
  linkSync(join(tree, 'bin/busybox'), join(tree, 'bin/ls'));
  symlinkSync('busybox', join(tree, 'bin/vi'));
  native.mknod(Buffer.from(join(tree, 'dev/null')), 0o020666, 1, 3);
  native.mknod(Buffer.from(join(tree, 'dev/loop0')), 0o060660, 7, 0);
  native.mknod(Buffer.from(join(tree, 'dev/fifo')), 0o010640, 0, 0);
  native.lsetxattr(Buffer.from(join(tree, 'bin/busybox')), Buffer.from('user.binary'), Buffer.from([0xff, 0xfe, 0x00, 0x01]));
  writeFileSync(join(tree, 'home/user/.profile'), 'PS1=$\n');
  chownSync(join(tree, 'home/user/.profile'), 1000, 1000);
  chownSync(join(tree, 'home/user'), 1000, 1000);
  chmodSync(join(tree, 'home/user'), 0o700);
  const layer = join(dir, 'layer.tar');
  await runOk('tar', ['--numeric-owner', '--xattrs', "--xattrs-include=*", '-C', tree, '-cpf', layer, '.']);

  const store = join(dir, 'store');
  const imported = await rootfs(['--store', store, 'import', layer, 'devices:1']);
  assert.equal(imported.code, 0, imported.stderr);
  const unpacked = join(dir, 'unpacked');
  const result = await rootfs(['--store', store, 'unpack', 'devices:1', unpacked]);
  assert.equal(result.code, 0, result.stderr);

  const reference = join(dir, 'reference');
  mkdirSync(reference);
  await runOk('tar', ['--numeric-owner', '--xattrs', "--xattrs-include=*", '-C', reference, '-xpf', layer]);
  const expected = describeTree(reference, { withMtime: true });
  assert.ok(expected['bin/ping']?.xattrs?.['security.capability'], 'the reference keeps the capability');
  assert.equal(expected['bin/su']?.mode, '4755');
  assert.deepEqual(describeTree(unpacked, { withMtime: true }), expected);
});

/** An image of one crafted layer; unpack must refuse it and write nothing, inside DIR or out. */
async function refuses(t: Parameters<typeof makeTempDir>[0], entries: TarMember[], message: RegExp): Promise<{ dir: string; outside: string }> {
  const dir = makeTempDir(t);
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  const store = join(dir, 'store');
  const opened = await Store.open(store);
  try {
    await storeImage(opened, 'hostile:1', [tarOf(entries.map((entry) => ({ ...entry, linkpath: entry.linkpath?.toString().replace('OUTSIDE', outside) })))]);
  } finally {
    await opened.close();
  }
  const target = join(outside, 'root');
  const result = await rootfs(['--store', store, 'unpack', 'hostile:1', target]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, message);
  assert.deepEqual(readdirSync(outside), [], 'nothing is left behind, inside DIR (removed again) or outside it');
  return { dir, outside };
}

test('unpack refuses a member named ../x', async (t) => {
  await refuses(t, [{ path: 'ok', body: 'fine\n' }, { path: '../x', body: 'escape\n' }], /'\.\.' component/);
});

test('unpack refuses an absolute member name', async (t) => {
  await refuses(t, [{ path: '/etc/x', body: 'escape\n' }], /absolute path/);
});

test('unpack refuses to write through a symlink the archive made: a -> /elsewhere, then a/evil', async (t) => {
  await refuses(t, [{ path: 'a', linkpath: 'OUTSIDE' }, { path: 'a/evil', body: 'escape\n' }], /refusing to write through 'a', which is a symbolic link/);
});

test('unpack wants an empty or missing directory', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const opened = await Store.open(store);
  try {
    await storeImage(opened, 'small:1', [tarOf([{ path: 'etc/' }, { path: 'etc/hostname', body: 'box\n' }])]);
  } finally {
    await opened.close();
  }
  const target = join(dir, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'precious'), 'keep me\n');
  const result = await rootfs(['--store', store, 'unpack', 'small:1', target]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /is not empty/);
  assert.deepEqual(readdirSync(target), ['precious']);
  assert.ok(!existsSync(join(target, 'etc')));
});
