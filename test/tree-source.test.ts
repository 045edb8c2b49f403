/**
 * One tree source, one filter: pack's path rules and flags apply to a
 * directory, a tar stream and a tar file alike, with or without --base; a
 * flag that cannot apply is refused (2) with the store unchanged; pack
 * leaves out the store in use and its own archive; mount points not entered
 * are named.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { atEnd, makeTempDir, mounter, requireRoot, rootfs } from './helpers.js';
import { snapshot } from './fixtures.js';

/** A small host root with what the base-image preset must keep out: SSH host keys, root's shell history, a live log. */
function makeHost(root: string): void {
  for (const dir of ['etc/ssh', 'root', 'var/log', 'usr/bin', 'tmp']) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'PRIVATE KEY\n');
  chmodSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 0o600);
  writeFileSync(join(root, 'etc/hostname'), 'host\n');
  writeFileSync(join(root, 'root/.bash_history'), 'mysql -p secret\n');
  writeFileSync(join(root, 'var/log/syslog'), 'a live log\n');
  writeFileSync(join(root, 'usr/bin/tool'), 'tool\n');
  linkSync(join(root, 'usr/bin/tool'), join(root, 'usr/bin/tool2'));
  writeFileSync(join(root, 'tmp/scratch'), 'scratch\n');
}

async function ok(args: string[], store: string, input?: Buffer): Promise<Buffer> {
  const result = await rootfs(args, { env: { ROOTFS_STORE: store }, input });
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function diffId(args: string[], store: string, input?: Buffer): Promise<string> {
  return (JSON.parse((await ok([...args, '--json'], store, input)).toString()) as { diffId: string }).diffId;
}

/** Member names of an image's merged tree. */
async function names(ref: string, store: string): Promise<string[]> {
  const tar = await ok(['export', ref], store);
  return execFileSync('tar', ['-t'], { input: tar }).toString().split('\n').filter(Boolean);
}

function setup(t: TestContext): { dir: string; root: string; store: string } {
  const dir = makeTempDir(t, 'rootfs-tree-source-');
  const root = join(dir, 'root');
  makeHost(root);
  return { dir, root, store: join(dir, 'store') };
}

const kept = ['etc/', 'etc/hostname', 'etc/ssh/', 'root/', 'tmp/', 'usr/', 'usr/bin/', 'usr/bin/tool', 'usr/bin/tool2', 'var/', 'var/log/', 'var/log/syslog'];

test('--preset applies to a directory, a tar stream and a tar file, with or without --base: the same layer, no host key or history in it', async (t) => {
  if (!requireRoot(t)) return;
  const { dir, root, store } = setup(t);
  const packed = await ok(['pack', root], store);
  const file = join(dir, 'root.tar');
  writeFileSync(file, packed);
  const fromDir = await diffId(['import', root, 'dir:1', '--preset', 'debian'], store);
  assert.equal(await diffId(['import', '-', 'stream:1', '--preset', 'debian'], store, packed), fromDir);
  assert.equal(await diffId(['import', file, 'file:1', '--preset', 'debian'], store), fromDir);
  assert.deepEqual((await names('stream:1', store)).sort(), kept);
  const syslog = execFileSync('tar', ['-xO', 'var/log/syslog'], { input: await ok(['export', 'file:1'], store) });
  assert.equal(syslog.length, 0, 'a truncate glob empties the file from a tar as from a directory');

  // With --base: the base is the same tree with nothing left out; the new layer must delete what the preset leaves out.
  await ok(['import', root, 'base:1', '--no-default-excludes'], store);
  const deltas = new Set<string>();
  for (const [ref, source, input] of [['dbase:1', root, undefined], ['sbase:1', '-', packed], ['fbase:1', file, undefined]] as const) {
    deltas.add(await diffId(['import', source, ref, '--base', 'base:1', '--preset', 'debian'], store, input));
    assert.deepEqual((await names(ref, store)).sort(), kept, `${ref}: the preset applied with --base`);
  }
  assert.equal(deltas.size, 1, 'the same delta layer from the directory, the stream and the file');

  // The other pack flags work with --base as without it (the old code refused them for a directory).
  await ok(['import', root, 'nde:1', '--base', 'base:1', '--no-default-excludes', '--cross-mounts', '--mtime', '2020-01-01T00:00:00Z'], store);
  assert.ok((await names('nde:1', store)).includes('tmp/scratch'));
});

test('a flag a tarball cannot take is a usage error naming it, the store unchanged; an image archive is refused with --base as without', async (t) => {
  if (!requireRoot(t)) return;
  const { dir, root, store } = setup(t);
  const packed = await ok(['pack', root], store);
  await ok(['import', root, 'base:1'], store);
  const before = snapshot(store);
  for (const [flag, args] of [
    ['--cross-mounts', ['import', '-', 'x:1', '--base', 'base:1', '--cross-mounts']],
    ['--selinux', ['import', '-', 'x:1', '--selinux']],
    ['--strict', ['commit', '-', 'x:1', '--base', 'base:1', '--strict']],
    ['--cross-mounts', ['append', 'base:1', '-', 'x:1', '--cross-mounts']],
    ['--selinux', ['diff', 'base:1', '-', '--selinux']],
  ] as const) {
    const result = await rootfs([...args], { env: { ROOTFS_STORE: store }, input: packed });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`${flag} applies to a directory walk, not to a tarball \\(stdin\\)`));
  }
  const onImage = await rootfs(['diff', 'base:1', 'base:1', '--preset', 'debian'], { env: { ROOTFS_STORE: store } });
  assert.equal(onImage.code, 2, onImage.stderr);
  const forced = await rootfs(['import', root, 'x:1', '--force'], { env: { ROOTFS_STORE: store } });
  assert.equal(forced.code, 2, forced.stderr);
  // A walk stores the next name of an excluded file as the file; a tar stream's body went with the name left out.
  const lostLink = await rootfs(['import', '-', 'x:1', '--exclude', 'usr/bin/tool'], { env: { ROOTFS_STORE: store }, input: packed });
  assert.equal(lostLink.code, 3, lostLink.stderr);
  assert.match(lostLink.stderr, /^rootfs: stdin: usr\/bin\/tool2: a hardlink to usr\/bin\/tool, which the exclusions leave out/);
  assert.deepEqual(snapshot(store), before, 'refused before anything was written');

  const archive = join(dir, 'image.tar');
  await ok(['save', 'base:1', '-o', archive], store);
  for (const args of [['import', archive, 'y:1'], ['import', archive, 'y:1', '--base', 'base:1'], ['commit', archive, 'y:1', '--base', 'base:1']]) {
    const result = await rootfs(args, { env: { ROOTFS_STORE: store } });
    assert.equal(result.code, 3, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /an image archive \(docker save or OCI/);
    assert.deepEqual(snapshot(store), before, `${args.join(' ')}: the store is unchanged`);
  }
});

test('commit, diff and append read a tarball through the same rules', async (t) => {
  if (!requireRoot(t)) return;
  const { root, store } = setup(t);
  const packed = await ok(['pack', root], store);
  await ok(['import', root, 'base:1', '--preset', 'debian'], store);
  const diff = (await ok(['diff', 'base:1', '-', '--preset', 'debian'], store, packed)).toString();
  assert.equal(diff, '', 'the same tree through the same preset: no difference');
  const raw = (await ok(['diff', 'base:1', '-'], store, packed)).toString();
  assert.match(raw, /A \/etc\/ssh\/ssh_host_ed25519_key/);
  await ok(['commit', '-', 'c:1', '--base', 'base:1', '--preset', 'debian'], store, packed);
  assert.deepEqual((await names('c:1', store)).sort(), kept);
  await ok(['append', 'base:1', '-', 'a:1', '--preset', 'debian'], store, packed);
  assert.ok(!(await names('a:1', store)).includes('etc/ssh/ssh_host_ed25519_key'));
});

test('pack leaves out the store in use ($ROOTFS_STORE or --store, made or not yet) and its own -o archive, saying so once', async (t) => {
  if (!requireRoot(t)) return;
  const { dir, root } = setup(t);
  const store = join(root, 'srv/store');
  await ok(['import', root, 'first:1'], store);
  for (const args of [['pack', root], ['pack', root, '--store', store]]) {
    const env = args.length === 2 ? { ROOTFS_STORE: store } : { ROOTFS_STORE: join(dir, 'elsewhere') };
    const packed = await rootfs(args, { env });
    assert.equal(packed.code, 0, packed.stderr);
    const members = execFileSync('tar', ['-t'], { input: packed.stdout }).toString();
    assert.ok(members.includes('srv/\n'), members);
    assert.ok(!members.includes('srv/store'), 'no blob of the store in the archive');
    assert.equal(packed.stderr.split(`${store}: the rootfs store in use; left out`).length, 2, packed.stderr);
  }
  // `pack ROOT | import -` into a store under ROOT that the import makes meanwhile: left out by its path.
  const later = join(root, 'var/lib/store2');
  const streamed = await rootfs(['pack', root], { env: { ROOTFS_STORE: later } });
  await ok(['import', '-', 'second:1'], later, streamed.stdout);
  assert.ok(!(await names('second:1', later)).some((name) => name.startsWith('var/lib/store2')));
  const streamedAgain = await rootfs(['pack', root], { env: { ROOTFS_STORE: later } });
  assert.ok(!execFileSync('tar', ['-t'], { input: streamedAgain.stdout }).toString().includes('store2/'));

  const output = join(root, 'host.tar');
  writeFileSync(output, 'an older archive');
  const toFile = await rootfs(['pack', root, '-o', output], { env: { ROOTFS_STORE: join(dir, 'elsewhere') } });
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.match(toFile.stderr, /host\.tar: file is the archive; not dumped/);
  assert.match(toFile.stderr, /the archive being written to .*host\.tar; not dumped/);
  assert.ok(!execFileSync('tar', ['-tf', output]).toString().includes('host.tar'));
});

test('mount points not entered are named on stderr and listed in --json; --cross-mounts enters them', async (t) => {
  if (!requireRoot(t)) return;
  const { dir, root, store } = setup(t);
  const mount = mounter(t);
  for (const point of ['home', 'var/lib/mysql']) {
    const at = join(root, point);
    mkdirSync(at, { recursive: true });
    if (!(await mount(['-t', 'tmpfs', 'none', at]))) return;
    writeFileSync(join(at, 'data'), 'on another filesystem\n');
  }
  const line = `rootfs: warning: 2 mount points not entered: ${root}/home ${root}/var/lib/mysql (use --cross-mounts, or pack them separately)\n`;
  const packed = await rootfs(['pack', root, '-o', join(dir, 'out.tar'), '--json'], { env: { ROOTFS_STORE: store } });
  assert.equal(packed.code, 0, packed.stderr);
  assert.ok(packed.stderr.includes(line), packed.stderr);
  assert.deepEqual((JSON.parse(packed.stdout.toString()) as { mountPointsNotEntered: string[] }).mountPointsNotEntered, [`${root}/home`, `${root}/var/lib/mysql`]);
  const imported = await rootfs(['import', root, 'i:1'], { env: { ROOTFS_STORE: store } });
  assert.equal(imported.code, 0, imported.stderr);
  assert.ok(imported.stderr.includes(line), imported.stderr);
  const crossed = await rootfs(['pack', root, '--cross-mounts'], { env: { ROOTFS_STORE: store } });
  assert.ok(!crossed.stderr.includes('not entered'), crossed.stderr);
  assert.ok(execFileSync('tar', ['-t'], { input: crossed.stdout }).toString().includes('home/data'));
  assert.equal(readFileSync(join(root, 'home/data'), 'utf8'), 'on another filesystem\n');
});

test('a tree deeper than PATH_MAX packs, imports, commits and diffs; GNU tar lists it', async (t) => {
  if (!requireRoot(t)) return;
  const dir = makeTempDir(t, 'rootfs-deep-');
  // Node's recursive rm stops at PATH_MAX; GNU rm walks with *at calls. Registered last, so it runs first.
  atEnd(t, () => void execFileSync('rm', ['-rf', dir]));
  const root = join(dir, 'root');
  const store = join(dir, 'store');
  const name = 'n'.repeat(200);
  // 30 levels of 201 bytes: 6000+ bytes below ROOT, made with relative calls as a deep tree is.
  execFileSync('bash', ['-ec', `mkdir root; cd root; for i in $(seq 30); do mkdir ${name}; cd ${name}; done; echo v1 > file; ln -s file link; setfattr -n user.deep -v yes file`], { cwd: dir });
  const deep = `${Array(30).fill(name).join('/')}`;
  assert.ok(deep.length > 5000);

  const archive = join(dir, 'deep.tar');
  await ok(['pack', root, '-o', archive], store);
  const listing = execFileSync('tar', ['--xattrs', '-tvf', archive]).toString();
  assert.ok(listing.includes(`${deep}/file`), 'GNU tar lists the deepest file');
  assert.ok(listing.includes(`${deep}/link -> file`));
  assert.equal(execFileSync('tar', ['-xOf', archive, `${deep}/file`]).toString(), 'v1\n');

  await ok(['import', root, 'deep:1'], store);
  execFileSync('bash', ['-ec', `cd root; for i in $(seq 30); do cd ${name}; done; echo v2-longer > file; echo new > added`], { cwd: dir });
  const diff = (await ok(['diff', 'deep:1', root], store)).toString();
  // The deepest directory's own line depends on its mtime's second (the racy case, not this test's).
  assert.deepEqual(diff.split('\n').filter((line) => line !== `C /${deep}` && line !== ''), [`A /${deep}/added`, `C /${deep}/file`]);
  await ok(['commit', root, 'deep:2', '--base', 'deep:1'], store);
  assert.equal(execFileSync('tar', ['-xO', `${deep}/file`], { input: await ok(['export', 'deep:2'], store) }).toString(), 'v2-longer\n');
  const again = (await ok(['diff', 'deep:2', root], store)).toString();
  assert.equal(again, '');
});
