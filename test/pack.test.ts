/**
 * packTree against the real peers: a fixture tree with every entry type a
 * live root has is packed, then listed, compared and extracted with GNU tar,
 * bsdtar and getfattr, and compared entry by entry with GNU tar's own
 * archive of the same tree.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, chownSync, createWriteStream, linkSync, mkdirSync, openSync, closeSync, rmSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { packTree, type PackSummary, type PackWarning } from '../src/pack/pack.js';
import type { TreeOptions } from '../src/pack/tree.js';
import { atEnd, makeTempDir, mounter, requireRoot, requireTools, run, runOk } from './helpers.js';

const GiB = 1024 * 1024 * 1024;
const longPath = `${'d'.repeat(99)}/${'n'.repeat(100)}`; // 200 bytes
const rawName = Buffer.from([0x72, 0x61, 0x77, 0x2d, 0xff, 0x2d, 0x6e, 0x61, 0x6d, 0x65]); // "raw-\xff-name"

/** A root with every kind of entry pack must handle; returns its path. */
async function buildFixture(t: TestContext, dir: string): Promise<string> {
  const root = join(dir, 'root');
  const at = (path: string) => join(root, path);
  for (const sub of ['etc', 'usr/bin', 'a/b', 'links', 'dev', 'proc/1', 'tmp', 'var/tmp', 'mnt2', 'bound', 'sticky', 'setgid', 'acl-dir', longPath.split('/')[0]!]) {
    mkdirSync(at(sub), { recursive: true });
  }
  writeFileSync(at('etc/hostname'), 'fixture\n');
  writeFileSync(at('a/b/empty'), '');
  writeFileSync(at('a/data'), Buffer.alloc(70000, 0x61));
  writeFileSync(at(longPath), 'long\n');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/`), rawName]), 'raw\n');
  writeFileSync(at('a/owned'), 'big uid\n');
  chownSync(at('a/owned'), 3000000, 3000001);
  writeFileSync(at('usr/bin/ping'), 'not really ping\n');
  writeFileSync(at('usr/bin/su'), '#!/bin/sh\n');
  chmodSync(at('usr/bin/su'), 0o4755);
  chmodSync(at('sticky'), 0o1777);
  chmodSync(at('setgid'), 0o2775);
  // Hardlink groups: three names of one inode across dirs, and a pair.
  writeFileSync(at('links/one'), 'shared\n');
  linkSync(at('links/one'), at('links/two'));
  linkSync(at('links/one'), at('a/three'));
  writeFileSync(at('links/pair-a'), 'pair\n');
  linkSync(at('links/pair-a'), at('links/pair-b'));
  symlinkSync('one', at('links/relative'));
  symlinkSync('/etc/hostname', at('links/absolute'));
  symlinkSync('does/not/exist', at('links/dangling'));
  // A 1 GiB file that is all hole but four bytes in the middle.
  const sparse = openSync(at('sparse'), 'w');
  writeSync(sparse, Buffer.from('data'), 0, 4, GiB / 2);
  closeSync(sparse);
  truncateSync(at('sparse'), GiB);
  await runOk('mkfifo', [at('fifo')]);
  await runOk('mknod', [at('null'), 'c', '1', '3']);
  await runOk('mknod', [at('bigdev'), 'c', '300', '70000']); // major and minor both past their old 8-bit fields
  await runOk('mknod', [at('loop9'), 'b', '7', '9']);
  writeFileSync(at('dev/console-placeholder'), 'default-excluded\n');
  writeFileSync(at('proc/1/status'), 'default-excluded\n');
  writeFileSync(at('tmp/scratch'), 'default-excluded\n');
  writeFileSync(at('var/tmp/scratch'), 'default-excluded\n');
  await runOk('setcap', ['cap_net_raw+ep', at('usr/bin/ping')]);
  await runOk('setfattr', ['-n', 'user.bin', '-v', '0xfffe00', at('a/data')]);
  await runOk('setfattr', ['-n', 'user.comment', '-v', 'on a dir', at('a')]);
  await runOk('setfattr', ['-h', '-n', 'trusted.on-link', '-v', '0x01', at('links/relative')]);
  await runOk('setfacl', ['-m', 'u:1234:rwx', at('etc/hostname')]);
  await runOk('setfacl', ['-d', '-m', 'g:4321:r-x', at('acl-dir')]);
  // A socket, which no tar can hold.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(at('socket'), resolve));
  atEnd(t, () => server.close());
  return root;
}

/**
 * Whole-second mtimes everywhere (pack stores seconds; `tar --compare`
 * compares nanoseconds), and a few far from now.
 */
async function settleTimes(root: string): Promise<void> {
  await runOk('find', [root, '-exec', 'touch', '-h', '-d', '@1700000000', '{}', '+']);
  const old = new Date('2001-02-03T04:05:06Z');
  utimesSync(join(root, 'etc/hostname'), old, old);
  const future = new Date('2031-01-01T00:00:00Z');
  utimesSync(join(root, 'a/b/empty'), future, future);
}

/** One member as `tar -tvv --numeric-owner --full-time` lists it. */
interface Listed {
  name: string;
  perms: string;
  owner: string;
  size: string;
  time: string;
  link: string;
}

async function listArchive(archive: string): Promise<Listed[]> {
  const { stdout } = await runOk('tar', ['-tvv', '--numeric-owner', '--full-time', '--quoting-style=escape', '-f', archive]);
  return stdout
    .toString()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const match = /^(\S{10}) (\d+\/\d+) +(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)? +(.*?)(?: -> (.*)| link to (.*))?$/.exec(line);
      assert.ok(match, `unparsed listing line: ${line}`);
      const name = match[5]!.replace(/^\.\//, '');
      return { name, perms: match[1]!, owner: match[2]!, size: match[3]!, time: match[4]!, link: (match[6] ?? match[7] ?? '').replace(/^\.\//, '') };
    });
}

async function packToFile(root: string, archive: string, options: TreeOptions = {}): Promise<{ summary: PackSummary; warnings: PackWarning[] }> {
  const warnings: PackWarning[] = [];
  const summary = await packTree(root, createWriteStream(archive), options, { warning: (w) => warnings.push(w) });
  return { summary, warnings };
}

test('pack matches GNU tar entry by entry and survives a round trip through GNU tar, bsdtar and getfattr', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'tar', 'bsdtar', 'getfattr', 'setfattr', 'setcap', 'setfacl', 'mknod', 'mkfifo')) return;
  const dir = makeTempDir(t);
  const mount = mounter(t);
  const root = await buildFixture(t, dir);
  if (!(await mount(['-t', 'tmpfs', 'none', join(root, 'mnt2')]))) return;
  writeFileSync(join(root, 'mnt2/on-tmpfs'), 'other filesystem\n');
  mkdirSync(join(dir, 'elsewhere'));
  writeFileSync(join(dir, 'elsewhere/bound-file'), 'same filesystem, bind-mounted\n');
  if (!(await mount(['--bind', join(dir, 'elsewhere'), join(root, 'bound')]))) return;
  await settleTimes(root);

  const ours = join(dir, 'ours.tar');
  const { summary, warnings } = await packToFile(root, ours);
  assert.deepEqual(warnings.map((w) => [w.kind, w.incomplete]), [['socket', false]]);
  assert.equal(summary.warnings, 0);
  assert.equal(summary.socketsSkipped, 1);
  assert.equal(summary.entries.hardlink, 3);
  assert.equal(summary.entries.chardev, 2);
  assert.equal(summary.entries.blockdev, 1);

  // GNU tar's archive of the same tree, told the exclusions pack makes by default
  // (it cannot see a same-filesystem bind mount: that one is excluded by name).
  const gnu = join(dir, 'gnu.tar');
  const excludes = ['./dev/*', './proc/*', './tmp/*', './var/tmp/*', './bound/*'].map((glob) => `--exclude=${glob}`);
  const gnuRun = await run('tar', ['--numeric-owner', '--one-file-system', '--xattrs', '--xattrs-include=*', '--sort=name', ...excludes, '-cf', gnu, '-C', root, '.']);
  assert.ok(gnuRun.code === 0 && /socket ignored/.test(gnuRun.stderr), gnuRun.stderr);

  const ourList = await listArchive(ours);
  const gnuList = (await listArchive(gnu)).filter((entry) => entry.name !== '');
  assert.deepEqual(ourList.map((e) => e.name), gnuList.map((e) => e.name), 'same members in the same order');
  for (let i = 0; i < gnuList.length; i++) assert.deepEqual(ourList[i], gnuList[i], `member ${gnuList[i]!.name}`);

  const names = new Set(ourList.map((e) => e.name));
  for (const kept of ['dev/', 'proc/', 'tmp/', 'var/tmp/', 'mnt2/', 'bound/', longPath, 'raw-\\377-name']) assert.ok(names.has(kept), `${kept} is packed`);
  for (const left of ['proc/1/', 'tmp/scratch', 'mnt2/on-tmpfs', 'bound/bound-file', 'socket', './', '']) assert.ok(!names.has(left), `${left} is not packed`);
  const byName = new Map(ourList.map((e) => [e.name, e]));
  assert.equal(byName.get('a/owned')!.owner, '3000000/3000001');
  assert.equal(byName.get('bigdev')!.size, '300,70000');
  assert.equal(byName.get('usr/bin/su')!.perms, '-rwsr-xr-x');
  assert.equal(byName.get('sticky/')!.perms, 'drwxrwxrwt');
  assert.equal(byName.get('sparse')!.size, String(GiB));
  assert.equal(byName.get('links/two')!.link, 'a/three', 'later names link to the first one in name order');

  // Contents, modes, owners, times and link targets against the tree itself.
  await runOk('tar', ['--compare', '--numeric-owner', '-f', ours, '-C', root]);
  assert.equal((await runOk('bsdtar', ['-tvf', ours])).stdout.toString().trim().split('\n').length, ourList.length);

  // Extended attributes and ACLs come back byte for byte (the sparse GiB is not written out again).
  const out = join(dir, 'extracted');
  mkdirSync(out);
  await runOk('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', ours, '-C', out, '--exclude=sparse']);
  const attrs = async (tree: string) => (await runOk('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: tree })).stdout.toString();
  const extracted = await attrs(out);
  assert.equal(extracted, await attrs(root));
  assert.match(extracted, /security\.capability=0x/);
  assert.match(extracted, /user\.bin=0xfffe00/);
  assert.match(extracted, /system\.posix_acl_access=0x/);
  assert.match(extracted, /system\.posix_acl_default=0x/);
  const caps = await runOk('getcap', [join(out, 'usr/bin/ping')]);
  assert.match(caps.stdout.toString(), /cap_net_raw[=+]ep/);
});

test('pack --cross-mounts descends into other filesystems; --no-default-excludes packs /proc and /tmp contents', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'tar')) return;
  const dir = makeTempDir(t);
  const mount = mounter(t);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'mnt2'), { recursive: true });
  mkdirSync(join(root, 'proc/1'), { recursive: true });
  writeFileSync(join(root, 'proc/1/status'), 'x');
  if (!(await mount(['-t', 'tmpfs', 'none', join(root, 'mnt2')]))) return;
  writeFileSync(join(root, 'mnt2/on-tmpfs'), 'y');
  const archive = join(dir, 'out.tar');
  await packToFile(root, archive, { oneFileSystem: false, defaultExcludes: false });
  assert.deepEqual((await listArchive(archive)).map((e) => e.name), ['mnt2/', 'mnt2/on-tmpfs', 'proc/', 'proc/1/', 'proc/1/status']);
  await packToFile(root, archive);
  assert.deepEqual((await listArchive(archive)).map((e) => e.name), ['mnt2/', 'proc/']);
});

test('pack skips holes and stores sizes past 8 GiB exactly: a 9 GiB sparse file comes out as zeros with its data in place', async (t) => {
  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  const size = 9 * GiB; // past ustar's 11 octal digits: the size goes in a pax record
  const fd = openSync(join(root, 'sparse'), 'w');
  writeSync(fd, Buffer.from('middle'), 0, 6, 4 * GiB + 1);
  closeSync(fd);
  truncateSync(join(root, 'sparse'), size);
  let stored = 0;
  let found = -1;
  const head: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (stored < 4096) head.push(chunk.subarray(0, 4096));
      const at = chunk.indexOf('middle');
      if (at >= 0 && found < 0) found = stored + at;
      stored += chunk.length;
      callback();
    },
  });
  const summary = await packTree(root, sink);
  assert.equal(summary.bytes, size);
  // pax header block, its records (one block), the ustar header, the body, end of archive.
  assert.equal(stored, 3 * 512 + size + 1024);
  assert.match(Buffer.concat(head).subarray(512, 1024).toString('latin1'), /^\d+ size=9663676416\n/);
  assert.equal(found, 3 * 512 + 4 * GiB + 1);
});

/**
 * A sink that lets the test act on the source once the archive has reached a
 * given byte: the packer reads at most a few chunks ahead of what the sink
 * has taken, so a 64 MiB file is still being read when its first MiB arrives.
 */
function actAt(path: string, offset: number, act: () => void): Writable {
  const out = createWriteStream(path);
  let seen = 0;
  let done = false;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (!done && seen >= offset) {
        done = true;
        act();
      }
      if (out.write(chunk)) callback();
      else out.once('drain', () => callback());
    },
    final(callback) {
      out.end(callback);
    },
  });
}

test('a file that shrinks, grows or vanishes while packed is a named warning, and the archive stays valid', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  const size = 64 * 1024 * 1024;
  writeFileSync(join(root, 'big'), Buffer.alloc(size, 0x62));
  writeFileSync(join(root, 'later'), 'packed after big\n');
  const archive = join(dir, 'out.tar');
  const pack = async (act: () => void) => {
    const warnings: PackWarning[] = [];
    const summary = await packTree(root, actAt(archive, 1024 * 1024, act), {}, { warning: (w) => warnings.push(w) });
    return { summary, warnings, listing: await listArchive(archive) };
  };

  const shrank = await pack(() => truncateSync(join(root, 'big'), 1000));
  assert.deepEqual(shrank.warnings.map((w) => [w.kind, w.path, w.incomplete]), [['shrank', join(root, 'big'), true]]);
  assert.match(shrank.warnings[0]!.message, /^file shrank by \d+ bytes; padding with zeros$/);
  assert.equal(shrank.summary.warnings, 1);
  assert.deepEqual(shrank.listing.map((e) => [e.name, e.size]), [['big', String(size)], ['later', '17']]);

  writeFileSync(join(root, 'big'), Buffer.alloc(size, 0x62));
  const grew = await pack(() => appendFileSync(join(root, 'big'), 'more'));
  assert.deepEqual(grew.warnings.map((w) => [w.kind, w.message]), [['changed', 'file changed as we read it']]);
  assert.deepEqual(grew.listing.map((e) => [e.name, e.size]), [['big', String(size)], ['later', '17']], 'cut at the header size');
  const extracted = join(dir, 'x');
  mkdirSync(extracted);
  await runOk('tar', ['-xf', archive, '-C', extracted]);
  assert.equal((await runOk('cmp', ['-n', String(size), join(root, 'big'), join(extracted, 'big')])).code, 0);

  truncateSync(join(root, 'big'), size);
  const vanished = await pack(() => unlinkSync(join(root, 'later')));
  assert.deepEqual(vanished.warnings.map((w) => [w.kind, w.path, w.message]), [['vanished', join(root, 'later'), 'file removed before we read it']]);
  assert.deepEqual(vanished.listing.map((e) => e.name), ['big']);
  rmSync(join(root, 'big'));
});
