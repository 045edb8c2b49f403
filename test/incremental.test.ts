/**
 * Incremental capture (import/commit --base, diff) and offline image editing
 * (config, append, history, rebase) on a real debootstrap root, checked with
 * umoci, skopeo, GNU tar and diff.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { debootstrapRoot } from './sbom-fixtures.js';
import { describeTree } from './tree.js';
import { makeTempDir, pastTheCaptureMargin, requireRoot, requireTools, rootfs, run, runOk } from './helpers.js';

/** The debootstrap root, plus the peers this file checks with. */
async function baseRoot(t: TestContext): Promise<string | undefined> {
  if (!requireRoot(t) || !requireTools(t, 'debootstrap', 'tar', 'umoci', 'skopeo', 'setfattr', 'diff')) return undefined;
  return debootstrapRoot(t);
}

interface Fixture {
  work: string;
  store: string;
  tree: string;
  r: (...args: string[]) => Promise<{ code: number; stdout: Buffer; stderr: string }>;
  ok: (...args: string[]) => Promise<string>;
}

async function fixture(t: TestContext): Promise<Fixture | undefined> {
  const root = await baseRoot(t);
  if (!root) return undefined;
  const work = makeTempDir(t, 'rootfs-incremental-');
  const tree = join(work, 'tree');
  await runOk('cp', ['-a', root, tree]);
  const store = join(work, 'store');
  const r = (...args: string[]) => rootfs(['--store', store, ...args]);
  const ok = async (...args: string[]): Promise<string> => {
    const result = await r(...args);
    assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
    return result.stdout.toString();
  };
  return { work, store, tree, r, ok };
}

/** A full capture, as the docs' first step: pack | import. */
async function capture(f: Fixture, ref: string): Promise<void> {
  const tar = join(f.work, `${ref.replace(/\W/g, '_')}.tar`);
  await f.ok('pack', f.tree, '-o', tar);
  await f.ok('import', tar, ref);
}

function lastLayerMembers(f: Fixture, ref: string): Promise<string[]> {
  return (async () => {
    const inspect = JSON.parse(await f.ok('inspect', ref)) as Array<{ Manifest: { layers: Array<{ digest: string }> } }>;
    const layers = inspect[0]!.Manifest.layers;
    const blob = join(f.store, 'blobs/sha256', layers[layers.length - 1]!.digest.slice(7));
    const listing = await runOk('tar', ['-tzf', blob]);
    return listing.stdout.toString().split('\n').filter(Boolean).sort();
  })();
}

/** The edits of the issue, on a debootstrap root: each kind of change once. */
function changeTree(tree: string): void {
  appendFileSync(join(tree, 'etc/hostname'), 'edited\n'); // edit
  mkdirSync(join(tree, 'opt/app'), { recursive: true });
  writeFileSync(join(tree, 'opt/app/new.conf'), 'added\n'); // add (and a new directory)
  rmSync(join(tree, 'etc/issue.net')); // delete a file
  rmSync(join(tree, 'usr/share/doc/bash'), { recursive: true }); // delete a whole directory
  rmSync(join(tree, 'usr/share/doc/sed'), { recursive: true });
  symlinkSync('grep', join(tree, 'usr/share/doc/sed')); // a directory replaced by a symlink
  chmodSync(join(tree, 'etc/debian_version'), 0o600); // mode only
  writeFileSync(join(tree, 'etc/motd.tmp'), '');
  rmSync(join(tree, 'etc/motd.tmp'));
  runSync('setfattr', ['-n', 'user.migrated', '-v', 'yes', join(tree, 'etc/profile')]); // xattr only
  linkSync(join(tree, 'usr/bin/dash'), join(tree, 'usr/local/bin/sh-link')); // a hardlink to an unchanged file
}

function runSync(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}`);
}

/** What the delta layer must hold for changeTree: the changes, their parent directories, and the whiteouts. */
const expectedDelta = [
  'etc/',
  'etc/.wh.issue.net',
  'etc/debian_version',
  'etc/hostname',
  'etc/profile',
  'opt/',
  'opt/app/',
  'opt/app/new.conf',
  'usr/',
  'usr/bin/',
  'usr/bin/dash',
  'usr/local/',
  'usr/local/bin/',
  'usr/local/bin/sh-link',
  'usr/share/',
  'usr/share/doc/',
  'usr/share/doc/.wh.bash',
  'usr/share/doc/sed',
].sort();

/** pack (and import DIR) keep these directories empty by default: they are compared without their contents. */
const compareOptions = { ignoreXattrs: ['security.selinux'], ignorePaths: ['dev', 'proc', 'sys', 'run', 'tmp', 'var/tmp', 'mnt', 'media'] };

test('import DIR --base: one layer holding exactly the changes; umoci and our unpack give the new tree, as a full capture does', async (t) => {
  const f = await fixture(t);
  if (!f) return;
  // Captured from the directory (it records when its walk began), once the copy's inodes are older than that.
  await pastTheCaptureMargin(f.tree);
  await f.ok('import', f.tree, 'host:v1');
  changeTree(f.tree);
  const json = JSON.parse(await f.ok('import', f.tree, 'host:v2', '--base', 'host:v1', '--json')) as { added: number; changed: number; deleted: number; contentBytesRead: number };
  assert.deepEqual(await lastLayerMembers(f, 'host:v2'), expectedDelta);
  assert.deepEqual([json.added, json.deleted], [3, 2]);
  // Only the carried files were read: the edited one, the new one, the profile, and dash for its new link;
  // dash twice, as its inode changed (a new name) with its metadata the same: hashed, then carried.
  const carried = ['etc/hostname', 'opt/app/new.conf', 'etc/profile', 'usr/bin/dash', 'etc/debian_version', 'usr/bin/dash'].reduce((sum, path) => sum + statSync(join(f.tree, path)).size, 0);
  assert.equal(json.contentBytesRead, carried);

  // The same from a tar of the tree (pack | import -): the hardlink's unchanged target comes from the base image.
  const v2tar = join(f.work, 'v2.tar');
  await f.ok('pack', f.tree, '-o', v2tar);
  await f.ok('import', v2tar, 'host:v2t', '--base', 'host:v1');
  assert.deepEqual(await lastLayerMembers(f, 'host:v2t'), expectedDelta);

  await f.ok('import', v2tar, 'host:v2full');
  const want = describeTree(f.tree, compareOptions);
  for (const ref of ['host:v2', 'host:v2t', 'host:v2full']) {
    const ours = join(f.work, `ours-${ref.replace(/\W/g, '_')}`);
    await f.ok('unpack', ref, ours);
    assert.deepEqual(describeTree(ours, compareOptions), want, `rootfs unpack ${ref}`);
    const bundle = join(f.work, `umoci-${ref.replace(/\W/g, '_')}`);
    await runOk('umoci', ['unpack', '--image', `${f.store}:${ref}`, bundle]);
    assert.deepEqual(describeTree(join(bundle, 'rootfs'), compareOptions), want, `umoci unpack ${ref}`);
  }

  // The image: base layers + the delta, the base config's history + one entry, the base annotations.
  const config = JSON.parse((await runOk('skopeo', ['inspect', '--config', `oci:${f.store}:host:v2`])).stdout.toString()) as { rootfs: { diff_ids: string[] }; history: Array<{ created_by?: string }> };
  assert.equal(config.rootfs.diff_ids.length, 2);
  assert.match(config.history[1]!.created_by!, /rootfs import .* --base host:v1/);
  const raw = JSON.parse((await runOk('skopeo', ['inspect', '--raw', `oci:${f.store}:host:v2`])).stdout.toString()) as { annotations: Record<string, string> };
  assert.equal(raw.annotations['org.opencontainers.image.base.name'], 'host:v1');
  assert.match(raw.annotations['org.opencontainers.image.base.digest']!, /^sha256:[0-9a-f]{64}$/);
});

test('import DIR --base of an unchanged tree reads no file content and writes an empty layer; a same-size, same-mtime edit is found, from a directory and a tar', async (t) => {
  const f = await fixture(t);
  if (!f) return;
  await pastTheCaptureMargin(f.tree);
  await f.ok('import', f.tree, 'host:v1');
  const same = JSON.parse(await f.ok('import', f.tree, 'host:same', '--base', 'host:v1', '--json')) as { added: number; changed: number; deleted: number; contentBytesRead: number; filesRead: number };
  assert.deepEqual([same.added, same.changed, same.deleted, same.contentBytesRead, same.filesRead], [0, 0, 0, 0, 0]);
  // With --sbom, the package databases are the only files read: dpkg's status and os-release.
  const withSbom = JSON.parse(await f.ok('import', f.tree, 'host:same-sbom', '--base', 'host:v1', '--json', '--sbom')) as { contentBytesRead: number; filesRead: number };
  assert.deepEqual([withSbom.contentBytesRead, withSbom.filesRead], [['var/lib/dpkg/status', 'usr/lib/os-release'].reduce((sum, path) => sum + statSync(join(f.tree, path)).size, 0), 2]);
  assert.deepEqual(await lastLayerMembers(f, 'host:same'), []);

  // Same size and mtime, other bytes: its inode changed since the capture, so it is read and hashed; nothing else is.
  const file = join(f.tree, 'etc/debian_version');
  const before = statSync(file);
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(/\d/, (d) => String((Number(d) + 1) % 10)));
  utimesSync(file, before.atime, before.mtime);
  const found = JSON.parse(await f.ok('import', f.tree, 'host:found', '--base', 'host:v1', '--json')) as { changed: number; contentBytesRead: number };
  assert.deepEqual([found.changed, found.contentBytesRead], [1, 2 * before.size]);
  assert.deepEqual(await lastLayerMembers(f, 'host:found'), ['etc/', 'etc/debian_version']);
  const seen = JSON.parse(await f.ok('import', f.tree, 'host:seen', '--base', 'host:v1', '--checksum', '--json')) as { changed: number };
  assert.equal(seen.changed, 1);
  assert.deepEqual(await lastLayerMembers(f, 'host:seen'), ['etc/', 'etc/debian_version']);
  // From a tar too (its body spooled while hashed).
  const tar = join(f.work, 'v2.tar');
  await f.ok('pack', f.tree, '-o', tar);
  await f.ok('import', tar, 'host:seen-tar', '--base', 'host:v1', '--checksum');
  assert.deepEqual(await lastLayerMembers(f, 'host:seen-tar'), ['etc/', 'etc/debian_version']);
});

test('save --exclude-have carries only the delta layer: under 1% of a full save when 0.1% of the files changed', async (t) => {
  const f = await fixture(t);
  if (!f) return;
  await capture(f, 'host:v1');
  const site = join(f.work, 'site');
  await runOk('cp', ['-a', f.store, site]);
  const have = join(f.work, 'site.have');
  await rootfs(['--store', site, 'have', '-o', have]);
  // 0.1% of the files: every 1000th regular file gets a line more.
  const files = (await runOk('find', [f.tree, '-xdev', '-type', 'f', '-links', '1'])).stdout.toString().split('\n').filter(Boolean).sort();
  const edited = files.filter((_, i) => i % 1000 === 0);
  for (const path of edited) appendFileSync(path, '# changed\n');
  await f.ok('import', f.tree, 'host:v2', '--base', 'host:v1');
  const delta = join(f.work, 'delta.tar');
  const fullArchive = join(f.work, 'full.tar');
  await f.ok('save', 'host:v2', '--exclude-have', have, '-o', delta);
  await f.ok('save', 'host:v2', '-o', fullArchive);
  const ratio = statSync(delta).size / statSync(fullArchive).size;
  process.stderr.write(`incremental: ${edited.length} of ${files.length} files changed; delta save ${statSync(delta).size} B, full save ${statSync(fullArchive).size} B (${(ratio * 100).toFixed(3)}%)\n`);
  assert.ok(ratio < 0.01, `delta save is ${(ratio * 100).toFixed(2)}% of a full save`);
  // At the site: the delta loads onto v1 and unpacks to the new tree.
  await rootfs(['--store', site, 'load', '-i', delta]).then((result) => assert.equal(result.code, 0, result.stderr));
  const out = join(f.work, 'site-v2');
  await rootfs(['--store', site, 'unpack', 'host:v2', out]).then((result) => assert.equal(result.code, 0, result.stderr));
  assert.deepEqual(describeTree(out, compareOptions), describeTree(f.tree, compareOptions));
});

test('diff: A/C/D lines agree with diff -r and tar --compare; image vs image and image vs directory; --stat and --json', async (t) => {
  const f = await fixture(t);
  if (!f) return;
  await capture(f, 'host:v1');
  const v1 = join(f.work, 'v1');
  await runOk('cp', ['-a', f.tree, v1]);
  changeTree(f.tree);
  await f.ok('import', f.tree, 'host:v2', '--base', 'host:v1');
  const lines = (await f.ok('diff', 'host:v1', 'host:v2')).split('\n').filter(Boolean);
  assert.deepEqual((await f.ok('diff', 'host:v1', f.tree)).split('\n').filter(Boolean), lines);
  const ours = new Map(lines.map((line) => [line.slice(2), line[0]]));
  assert.deepEqual([...ours.entries()].filter(([, kind]) => kind !== 'C').sort(), [
    ['/etc/issue.net', 'D'],
    ['/opt/app', 'A'],
    ['/opt/app/new.conf', 'A'],
    ['/usr/local/bin/sh-link', 'A'],
    ['/usr/share/doc/bash', 'D'],
  ]);
  // diff -r: every "Only in" and "differ" it reports is ours, with the right letter.
  const diffR = (await run('diff', ['-rq', '--no-dereference', v1, f.tree])).stdout.toString().split('\n').filter(Boolean);
  assert.ok(diffR.length > 0);
  for (const line of diffR) {
    // diff cannot compare two devices or fifos; it says so, which is no difference.
    if (/^File (\S+) is a (.*) while file (\S+) is a \2$/.test(line)) continue;
    const only = /^Only in (.*): (.*)$/.exec(line);
    if (only) {
      const path = join(only[1]!, only[2]!);
      const kind = path.startsWith(v1) ? 'D' : 'A';
      assert.equal(ours.get(path.slice((kind === 'D' ? v1 : f.tree).length)), kind, line);
      continue;
    }
    const differ = /^(?:Files|File|Symbolic links) (\S+) and (\S+) (?:differ|are symbolic links|is a .*)$/.exec(line) ?? /^File (\S+) is a .* while file (\S+) is a .*$/.exec(line);
    assert.ok(differ, line);
    assert.equal(ours.get(differ[1]!.slice(v1.length)), 'C', line);
  }
  // tar --compare of the new tree's tar against the old tree: every file it finds different is a C or A of ours.
  const tar = join(f.work, 'v2.tar');
  await runOk('tar', ['--xattrs', '--numeric-owner', '-cf', tar, '-C', f.tree, 'etc', 'usr/local']);
  const compared = (await run('tar', ['--compare', '--xattrs', '--numeric-owner', '-f', tar, '-C', v1])).stdout.toString().split('\n').filter(Boolean);
  for (const line of compared) {
    const path = `/${line.slice(0, line.indexOf(': ')).replace(/\/$/, '')}`;
    if (/Mod time differs/.test(line) && statSync(join(f.tree, path)).isDirectory()) continue;
    assert.ok(ours.get(path) === 'C' || ours.get(path) === 'A', `tar --compare: ${line}`);
  }
  for (const path of ['/etc/hostname', '/etc/debian_version', '/etc/profile', '/usr/share/doc/sed']) assert.equal(ours.get(path), 'C', path);

  const stat = JSON.parse(await f.ok('diff', 'host:v1', 'host:v2', '--stat', '--json')) as { added: number; changed: number; deleted: number; addedBytes: number };
  assert.deepEqual([stat.added, stat.deleted], [3, 2]);
  // The new hardlink adds a name, not content: dash is in the layer only to keep the link whole.
  assert.equal(stat.addedBytes, statSync(join(f.tree, 'opt/app/new.conf')).size);
  const listed = JSON.parse(await f.ok('diff', 'host:v1', 'host:v2', '--json')) as Array<{ Path: string; Kind: number }>;
  assert.equal(listed.length, lines.length);
  assert.equal(listed.find((item) => item.Path === '/etc/issue.net')?.Kind, 2);
  assert.equal((await f.r('diff', 'host:v1', 'host:v1')).stdout.toString(), '');
});

test('commit DIR --base with -c and -m; history shows it (skopeo reads the same history); config edits; append; rebase', async (t) => {
  const f = await fixture(t);
  if (!f) return;
  await capture(f, 'host:v1');
  const copy = join(f.work, 'copy');
  await f.ok('unpack', 'host:v1', copy);
  writeFileSync(join(copy, 'etc/app.conf'), 'port=80\n');
  await f.ok('commit', copy, 'host:c1', '--base', 'host:v1', '-c', 'CMD ["/bin/bash"]', '-c', 'ENV LANG=C.UTF-8', '-m', 'app config');
  const config = JSON.parse((await runOk('skopeo', ['inspect', '--config', `oci:${f.store}:host:c1`])).stdout.toString()) as { config: { Cmd: string[]; Env: string[] }; history: Array<{ created_by?: string; comment?: string; empty_layer?: boolean }> };
  assert.deepEqual(config.config.Cmd, ['/bin/bash']);
  assert.ok(config.config.Env.includes('LANG=C.UTF-8'));
  // commit from an unpacked copy: only the new file (and its parent) are in the layer.
  assert.deepEqual(await lastLayerMembers(f, 'host:c1'), ['etc/', 'etc/app.conf']);

  // config: a new image, the old one as it was.
  await f.ok('config', 'host:c1', 'host:c2', '-c', 'ENV MODE=prod', '--label', 'site=dc2', '--annotation', 'org.example.ticket=42');
  const c2 = JSON.parse((await runOk('skopeo', ['inspect', '--config', `oci:${f.store}:host:c2`])).stdout.toString()) as typeof config & { config: { Labels: Record<string, string> } };
  assert.ok(c2.config.Env.includes('MODE=prod') && c2.config.Env.includes('LANG=C.UTF-8'));
  assert.equal(c2.config.Labels.site, 'dc2');
  const raw = JSON.parse((await runOk('skopeo', ['inspect', '--raw', `oci:${f.store}:host:c2`])).stdout.toString()) as { annotations: Record<string, string>; layers: unknown[] };
  assert.equal(raw.annotations['org.example.ticket'], '42');
  assert.equal(raw.layers.length, 2);
  const c1Again = JSON.parse((await runOk('skopeo', ['inspect', '--config', `oci:${f.store}:host:c1`])).stdout.toString()) as typeof c2;
  assert.equal(c1Again.config.Labels, undefined);

  // history: docker's columns, newest first, empty layers shown; the rows are skopeo's history reversed.
  const table = (await f.ok('history', 'host:c2')).split('\n').filter(Boolean);
  assert.match(table[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  assert.equal(table.length, 1 + c2.history.length);
  assert.match(table[1]!, /rootfs config ENV MODE=prod LABEL site=dc2\s+0B/);
  assert.match(table[2]!, /^<missing>.*rootfs commit .*app config$/);
  const rows = JSON.parse(await f.ok('history', 'host:c2', '--json')) as Array<{ createdBy: string; emptyLayer: boolean }>;
  assert.deepEqual(rows.map((row) => row.createdBy).reverse(), c2.history.map((entry) => entry.created_by ?? ''));
  assert.deepEqual(rows.map((row) => row.emptyLayer), [true, false, false]);

  // append: a tar as it is, and a directory; umoci unpacks both.
  const extra = join(f.work, 'extra');
  mkdirSync(join(extra, 'srv'), { recursive: true });
  writeFileSync(join(extra, 'srv/data.txt'), 'data\n');
  const extraTar = join(f.work, 'extra.tar');
  await runOk('tar', ['-cf', extraTar, '-C', extra, 'srv']);
  await f.ok('append', 'host:c2', extraTar, 'host:a1');
  await f.ok('append', 'host:a1', extra, 'host:a2', '-m', 'from a directory');
  for (const ref of ['host:a1', 'host:a2']) {
    const bundle = join(f.work, `umoci-${ref.replace(/\W/g, '_')}`);
    await runOk('umoci', ['unpack', '--image', `${f.store}:${ref}`, bundle]);
    assert.equal(readFileSync(join(bundle, 'rootfs/srv/data.txt'), 'utf8'), 'data\n');
    assert.equal(readFileSync(join(bundle, 'rootfs/etc/app.conf'), 'utf8'), 'port=80\n');
  }
  const a1Layers = (JSON.parse((await runOk('skopeo', ['inspect', '--raw', `oci:${f.store}:host:a1`])).stdout.toString()) as { layers: unknown[] }).layers;
  assert.equal(a1Layers.length, 3);

  // rebase: c1's own layer onto a new base (v1 plus a patch); the old base from its annotations.
  writeFileSync(join(f.tree, 'etc/patched'), 'security fix\n');
  await f.ok('import', f.tree, 'host:v1.1', '--base', 'host:v1');
  await f.ok('rebase', 'host:c1', '--new-base', 'host:v1.1', 'host:c1-rebased');
  const bundle = join(f.work, 'umoci-rebased');
  await runOk('umoci', ['unpack', '--image', `${f.store}:host:c1-rebased`, bundle]);
  assert.equal(readFileSync(join(bundle, 'rootfs/etc/patched'), 'utf8'), 'security fix\n');
  assert.equal(readFileSync(join(bundle, 'rootfs/etc/app.conf'), 'utf8'), 'port=80\n');
  const rebased = JSON.parse((await runOk('skopeo', ['inspect', '--config', `oci:${f.store}:host:c1-rebased`])).stdout.toString()) as typeof config;
  assert.deepEqual(rebased.config.Cmd, ['/bin/bash']);
  assert.equal(rebased.history.length, 3);
  const rebasedRaw = JSON.parse((await runOk('skopeo', ['inspect', '--raw', `oci:${f.store}:host:c1-rebased`])).stdout.toString()) as { annotations: Record<string, string> };
  assert.equal(rebasedRaw.annotations['org.opencontainers.image.base.name'], 'host:v1.1');
  // Refused: c1 is not built on v1.1.
  const refused = await f.r('rebase', 'host:c1', '--old-base', 'host:v1.1', '--new-base', 'host:v1');
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^rootfs: rebase: host:c1 is not built on host:v1.1: its layer 2 is sha256:.*; usage: rootfs rebase /);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
});

test('the container preset composes with a distro preset: both lists apply', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'tar')) return;
  const work = makeTempDir(t);
  const tree = join(work, 'tree');
  for (const dir of ['boot/grub', 'lib/modules/6.1.0', 'etc/netplan', 'etc/NetworkManager/system-connections', 'etc/sysconfig/network-scripts', 'var/lib/apt/lists', 'etc/udev/rules.d']) mkdirSync(join(tree, dir), { recursive: true });
  for (const file of ['boot/vmlinuz', 'lib/modules/6.1.0/modules.dep', 'etc/fstab', 'etc/netplan/50-cloud.yaml', 'etc/NetworkManager/system-connections/eth0.nmconnection', 'etc/sysconfig/network-scripts/ifcfg-eth0', 'var/lib/apt/lists/deb_Packages', 'etc/udev/rules.d/70-persistent-net.rules', 'swapfile', 'etc/hosts']) writeFileSync(join(tree, file), 'x');
  const tar = join(work, 'out.tar');
  const packed = await rootfs(['pack', tree, '--preset', 'debian', '--preset', 'container', '-o', tar]);
  assert.equal(packed.code, 0, packed.stderr);
  const names = (await runOk('tar', ['-tf', tar])).stdout.toString().split('\n').filter(Boolean).sort();
  assert.deepEqual(names.filter((name) => !name.endsWith('/')), ['etc/hosts']);
  assert.ok(names.includes('boot/') && names.includes('lib/modules/'), 'the directories stay, empty');
  const shown = (await rootfs(['presets', 'debian', 'container'])).stdout.toString();
  assert.match(shown, /exclude {3}\/var\/lib\/apt\/lists\/\*/);
  assert.match(shown, /exclude {3}\/etc\/fstab/);
});

