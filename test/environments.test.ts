/**
 * Unprivileged and odd environments: a store this user may read but not
 * write, a read-only mount, store paths that cannot be created.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { cliPath, makeTempDir, mounter, requireRoot, requireTools, rootfs, run, runOk, type RunResult } from './helpers.js';
import { snapshot, tarOf } from './fixtures.js';

const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Our CLI as the unprivileged user nobody (uid 65534). */
function rootfsAsNobody(args: string[]): Promise<RunResult> {
  return run('setpriv', [...nobody, process.execPath, cliPath, ...args]);
}

/** A root-owned store in a directory everyone may enter (makeTempDir's are 0700), holding one image base:1. */
async function rootStore(t: TestContext): Promise<{ work: string; store: string }> {
  const work = makeTempDir(t);
  chmodSync(work, 0o755);
  mkdirSync(join(work, 'root', 'etc'), { recursive: true });
  writeFileSync(join(work, 'root', 'etc', 'hostname'), 'box\n');
  await runOk('tar', ['-C', join(work, 'root'), '-cf', join(work, 'root.tar'), '.']);
  const store = join(work, 'store');
  const imported = await rootfs(['--store', store, 'import', '-q', join(work, 'root.tar'), 'base:1']);
  assert.equal(imported.code, 0, imported.stderr);
  const out = join(work, 'out');
  mkdirSync(out);
  chmodSync(out, 0o777);
  return { work, store };
}

const notWritable = (store: string): RegExp => new RegExp(`^rootfs: ${store}: the store is not writable by [^\\n]*\\n$`);

test('a user who may read a root-owned store but not write it can list, inspect, save and export; writes are one clear line, exit 5; nothing in the store changes', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'setpriv')) return;
  const { work, store } = await rootStore(t);
  const before = snapshot(store);

  const images = await rootfsAsNobody(['--store', store, 'images']);
  assert.equal(images.code, 0, images.stderr);
  assert.match(images.stdout.toString(), /^base +1 /m);
  const inspect = await rootfsAsNobody(['--store', store, 'inspect', 'base:1']);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.equal(JSON.parse(inspect.stdout.toString())[0].RepoTags[0], 'base:1');
  for (const format of ['docker-archive', 'oci']) {
    const saved = await rootfsAsNobody(['--store', store, 'save', 'base:1', '--format', format, '-o', join(work, 'out', format)]);
    assert.equal(saved.code, 0, saved.stderr);
  }
  const exported = await rootfsAsNobody(['--store', store, 'export', 'base:1', '-o', join(work, 'out', 'fs.tar')]);
  assert.equal(exported.code, 0, exported.stderr);
  const have = await rootfsAsNobody(['--store', store, 'have', '-o', join(work, 'out', 'have.json')]);
  assert.equal(have.code, 0, have.stderr);

  for (const args of [['tag', 'base:1', 'other:1'], ['rmi', 'base:1'], ['import', join(work, 'root.tar'), 'x:1'], ['gc'], ['load', '-i', join(work, 'out', 'docker-archive')], ['squash', 'base:1', 'sq:1']]) {
    const refused = await rootfsAsNobody(['--store', store, ...args]);
    assert.equal(refused.code, 5, `${args.join(' ')}: ${refused.stderr}`);
    assert.match(refused.stderr, notWritable(store), args.join(' '));
    assert.match(refused.stderr, /permission denied/);
  }
  assert.deepEqual(snapshot(store), before);
});

test('reading a layout that another tool made creates nothing in it (no .rootfs), for root and for others', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'setpriv')) return;
  const { work, store } = await rootStore(t);
  rmSync(join(store, '.rootfs'), { recursive: true });
  const before = snapshot(store);
  for (const runner of [(args: string[]) => rootfs(args), rootfsAsNobody]) {
    const images = await runner(['--store', store, 'images']);
    assert.equal(images.code, 0, images.stderr);
    const saved = await runner(['--store', store, 'save', 'base:1', '-o', join(work, 'out', `a${Math.random()}.tar`)]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.deepEqual(snapshot(store), before);
  }
  assert.equal(existsSync(join(store, '.rootfs')), false);
});

test('a store on a read-only mount: reads work, a write says the store is not writable (read-only file system), exit 5', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'mount', 'umount')) return;
  const { work, store } = await rootStore(t);
  const mounted = join(work, 'ro');
  mkdirSync(mounted);
  const mount = mounter(t);
  if (!(await mount(['--bind', '-o', 'ro', store, mounted]))) return;
  // Older util-linux ignores ro on a first bind: remount to be sure.
  await runOk('mount', ['-o', 'remount,bind,ro', mounted]);
  const images = await rootfs(['--store', mounted, 'images']);
  assert.equal(images.code, 0, images.stderr);
  assert.match(images.stdout.toString(), /^base +1 /m);
  const saved = await rootfs(['--store', mounted, 'save', 'base:1', '-o', join(work, 'out', 'a.tar')]);
  assert.equal(saved.code, 0, saved.stderr);
  for (const args of [['tag', 'base:1', 'other:1'], ['import', join(work, 'root.tar')]]) {
    const refused = await rootfs(['--store', mounted, ...args]);
    assert.equal(refused.code, 5, refused.stderr);
    assert.match(refused.stderr, notWritable(mounted));
    assert.match(refused.stderr, /read-only file system/);
  }
});

test('a store path that cannot be created (under /proc) is one line, exit 5, at once, for every command that makes it', { timeout: 120_000 }, async (t) => {
  const work = makeTempDir(t);
  writeFileSync(join(work, 'f'), 'data');
  const cases = [
    ['--store', '/proc/rootfs-nope', 'gc'],
    ['--store', '/proc/rootfs-nope/a/b', 'import', join(work, 'f'), 'x:1'],
    ['split', join(work, 'f'), '--size', '1M', '-o', '/proc/rootfs-nope/parts'],
    ['--store', join(work, 'store'), 'save', 'x:1', '--format', 'oci', '-o', '/proc/rootfs-nope/layout'],
  ];
  await runOk(process.execPath, [cliPath, '--store', join(work, 'store'), 'import', '-q', '-', 'x:1'], { input: tarOf([{ path: 'f', body: 'data' }]) });
  for (const args of cases) {
    const result = await rootfs(args);
    assert.equal(result.code, 5, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^rootfs: \/proc\/rootfs-nope: cannot create directory: no such file or directory\n$/, args.join(' '));
  }
});

test('save --format oci makes directories 0755 and files 0644 less the umask (as skopeo), fills an empty directory, and refuses a non-empty one that is no layout (2)', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  writeFileSync(join(work, 'f'), 'data');
  await runOk(process.execPath, [cliPath, '--store', store, 'import', '-q', '-', 'x:1'], { input: tarOf([{ path: 'f', body: 'data' }]) });
  const saveWithUmask = (umask: string, out: string): Promise<RunResult> =>
    run('sh', ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, cliPath, '--store', store, 'save', 'x:1', '--format', 'oci', '-o', out]);
  const modes = (dir: string): Set<string> => new Set(snapshot(dir).map((line) => line.split(' ')[1]!.slice(-3)));
  for (const [umask, expected] of [['022', ['755', '644']], ['027', ['750', '640']]] as const) {
    const out = join(work, `layout-${umask}`);
    const saved = await saveWithUmask(umask, out);
    assert.equal(saved.code, 0, saved.stderr);
    assert.deepEqual(modes(out), new Set(expected));
  }
  const empty = join(work, 'empty');
  mkdirSync(empty);
  const intoEmpty = await saveWithUmask('022', empty);
  assert.equal(intoEmpty.code, 0, intoEmpty.stderr);
  assert.ok(existsSync(join(empty, 'oci-layout')));
  assert.deepEqual(modes(empty), new Set(['755', '644']));

  const foreign = join(work, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'mine');
  const before = snapshot(foreign);
  const refused = await saveWithUmask('022', foreign);
  assert.equal(refused.code, 2, refused.stderr);
  assert.equal(refused.stderr, `rootfs: save: ${foreign}: not empty and not an OCI image layout (no oci-layout file); refusing to write into it (give a new or empty directory, or an existing layout); usage: rootfs save <...refs> [options]\n`);
  assert.deepEqual(snapshot(foreign), before);
  assert.deepEqual(readdirSync(work).filter((name) => name.startsWith('.')), []);
});

test('a full disk: every failed write names the file it was writing (or stdout), one line, exit 5, and leaves nothing behind', { timeout: 300_000 }, async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'mount', 'umount', 'sh')) return;
  const work = makeTempDir(t);
  const store = join(work, 'store');
  mkdirSync(join(work, 'root'));
  writeFileSync(join(work, 'root', 'noise'), randomBytes(1 << 20));
  await runOk('tar', ['-C', join(work, 'root'), '-cf', join(work, 'root.tar'), '.']);
  await runOk(process.execPath, [cliPath, '--store', store, 'import', '-q', join(work, 'root.tar'), 'big:1', '--compression', 'none']);
  await runOk(process.execPath, [cliPath, 'split', join(work, 'root.tar'), '--size', '1M', '-o', join(work, 'parts')]);
  const full = join(work, 'full');
  mkdirSync(full);
  await runOk('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', full]);
  try {
    const cli = `"${process.execPath}" "${cliPath}" --store "${store}"`;
    const cases: Array<[string, string]> = [
      [`${cli} save big:1 -o ${full}/a.tar`, `${full}/a.tar`],
      [`${cli} save big:1 --format oci-archive -o ${full}/a.tar`, `${full}/a.tar`],
      [`${cli} save big:1 > ${full}/a.tar`, 'stdout'],
      [`${cli} save big:1 --compression gzip -o ${full}/a.tar`, `${full}/\\.a\\.tar\\.tmp-\\d+-\\w+/spool-1`],
      [`${cli} save big:1 --format oci -o ${full}/layout`, `${full}/layout/[\\w/]+`],
      [`${cli} export big:1 -o ${full}/fs.tar`, `${full}/fs.tar`],
      [`${cli} export big:1 > ${full}/fs.tar`, 'stdout'],
      [`${cli} join ${work}/parts -o - > ${full}/j`, 'stdout'],
      [`${cli} join ${work}/parts -o ${full}/j`, `${full}/j`],
      [`${cli} split ${work}/root.tar --size 1M -o ${full}/parts`, `${full}/parts/\\.root\\.tar\\.part0001-[\\w-]+`],
      [`${cli.replace(store, `${full}/store`)} import ${work}/root.tar x:1`, `${full}/store/\\.rootfs/tmp/blob-[\\w-]+`],
    ];
    for (const [command, named] of cases) {
      const result = await run('sh', ['-c', command]);
      assert.equal(result.code, 5, `${command}: ${result.stderr}`);
      // The error is one line; save's note of a layer it converts (an info line, said before it starts) may come first.
      const errors = result.stderr.split('\n').filter((line) => !line.startsWith('converting layer ')).join('\n');
      assert.match(errors, new RegExp(`^rootfs: ${named}: no space left on device\\n$`), command);
      await run('sh', ['-c', `rm -f ${full}/a.tar ${full}/fs.tar ${full}/j`]);
      assert.deepEqual(readdirSync(full).filter((name) => name !== 'store' && name !== 'parts'), [], command);
    }
  } finally {
    await runOk('umount', [full]);
  }
});

test('unpack as a non-root user: without --rootless the first privileged step stops it with the way out; with it, devices and privileged xattrs are skipped with warnings and the rest is extracted', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'setpriv', 'setfattr', 'getfattr', 'mknod')) return;
  const work = makeTempDir(t);
  chmodSync(work, 0o755);
  const root = join(work, 'root');
  mkdirSync(join(root, 'dev'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'bin', 'ping'), 'ping\n');
  writeFileSync(join(root, 'owned'), 'mine\n');
  await runOk('chown', ['1234:1234', join(root, 'owned')]);
  await runOk('mknod', [join(root, 'dev', 'null'), 'c', '1', '3']);
  await runOk('mknod', [join(root, 'dev', 'pipe'), 'p']);
  await runOk('setfattr', ['-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', join(root, 'bin', 'ping')]);
  await runOk('setfattr', ['-n', 'user.note', '-v', 'kept', join(root, 'bin', 'ping')]);
  const store = join(work, 'store');
  const packed = await runOk(process.execPath, [cliPath, 'pack', root, '--no-default-excludes']);
  await runOk(process.execPath, [cliPath, '--store', store, 'import', '-q', '-', 'base:1'], { input: packed.stdout });
  const out = join(work, 'out');
  mkdirSync(out);
  chmodSync(out, 0o777);

  const refused = await rootfsAsNobody(['--store', store, 'unpack', 'base:1', join(out, 'plain')]);
  assert.equal(refused.code, 5, refused.stderr);
  assert.match(refused.stderr, /^rootfs: \S+: operation not permitted \(run as root, or use --rootless\)\n$/);
  assert.deepEqual(readdirSync(out), []);

  const target = join(out, 'rootless');
  const unpacked = await rootfsAsNobody(['--store', store, 'unpack', '--rootless', 'base:1', target]);
  assert.equal(unpacked.code, 0, unpacked.stderr);
  assert.match(unpacked.stderr, /^rootfs: warning: dev\/null: character device 1,3 not created \(--rootless\)$/m);
  assert.match(unpacked.stderr, /^rootfs: warning: bin\/ping: xattr security\.capability not set \(--rootless\)$/m);
  assert.match(unpacked.stderr, /left out: 1 device node, 1 xattr\)/);
  assert.equal(existsSync(join(target, 'dev', 'null')), false);
  assert.ok(lstatSync(join(target, 'dev', 'pipe')).isFIFO());
  assert.equal(lstatSync(join(target, 'owned')).uid, 65534);
  const note = await runOk('getfattr', ['--only-values', '-n', 'user.note', join(target, 'bin', 'ping')]);
  assert.equal(note.stdout.toString(), 'kept');
  const caps = await run('getfattr', ['-n', 'security.capability', join(target, 'bin', 'ping')]);
  assert.notEqual(caps.code, 0);

  // As root, --rootless still leaves owners alone and devices out: what was asked for, not guessed from the uid.
  const asRoot = await rootfs(['--store', store, 'unpack', '--rootless', 'base:1', join(work, 'asroot')]);
  assert.equal(asRoot.code, 0, asRoot.stderr);
  assert.equal(lstatSync(join(work, 'asroot', 'owned')).uid, 0);
});
