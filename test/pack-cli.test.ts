/**
 * rootfs pack and rootfs presets through the real CLI: output handling,
 * excludes, presets, --mtime, exit codes and live-host warnings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { cliPath, makeTempDir, requireRoot, requireTools, rootfs, run, runOk } from './helpers.js';
import { sha256 } from '../src/oci/digest.js';
import { disguiseForCac } from '../src/cli/main.js';

/** Creates files (content strings) and directories (names ending in "/") under root. */
function makeTree(root: string, paths: Record<string, string>): void {
  mkdirSync(root, { recursive: true });
  for (const [path, content] of Object.entries(paths)) {
    if (path.endsWith('/')) mkdirSync(join(root, path), { recursive: true });
    else {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
  }
}

/** name → size (directories end in "/"), from GNU tar's verbose listing. */
async function listing(archive: string | Buffer): Promise<Map<string, number>> {
  const args = ['-tv', '--numeric-owner', '--quoting-style=escape', '-f', Buffer.isBuffer(archive) ? '-' : archive];
  const { stdout } = await runOk('tar', args, Buffer.isBuffer(archive) ? { input: archive } : {});
  const members = new Map<string, number>();
  for (const line of stdout.toString().split('\n').filter(Boolean)) {
    const match = /^\S{10} \d+\/\d+ +(\d+|\d+,\d+) \S+ \S+ (.*?)(?: -> .*| link to .*)?$/.exec(line);
    assert.ok(match, `unparsed listing line: ${line}`);
    members.set(match[2]!, Number(match[1]!.split(',')[0]));
  }
  return members;
}

test('pack -o FILE inside ROOT leaves the archive out, writes no temp file, and --json summarises on stdout', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const root = join(makeTempDir(t), 'root');
  makeTree(root, { 'etc/hostname': 'h\n', 'srv/': '' });
  const archive = join(root, 'srv/out.tar');
  writeFileSync(archive, 'an archive from an earlier run');
  const result = await rootfs(['pack', root, '-o', archive, '--json']);
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout.toString());
  assert.deepEqual(summary.entries, { file: 1, hardlink: 0, symlink: 0, chardev: 0, blockdev: 0, directory: 2, fifo: 0 });
  assert.equal(summary.bytes, 2);
  assert.equal(summary.archiveBytes, readFileSync(archive).length);
  assert.equal(summary.warnings, 0);
  assert.deepEqual([...(await listing(archive)).keys()], ['etc/', 'etc/hostname', 'srv/']);
  assert.deepEqual(readdirSync(join(root, 'srv')), ['out.tar']);
});

test('pack to stdout: the archive on stdout, the --json summary on stderr; never to a terminal', async (t) => {
  if (!requireTools(t, 'tar', 'script')) return;
  const root = join(makeTempDir(t), 'root');
  makeTree(root, { 'a/b': 'bb', c: 'c' });
  const result = await rootfs(['pack', root, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual([...(await listing(result.stdout)).entries()], [['a/', 0], ['a/b', 2], ['c', 1]]);
  assert.equal(JSON.parse(result.stderr).entries.file, 2);

  const tty = await run('script', ['-qec', `${process.execPath} ${cliPath} pack ${root}`, '/dev/null']);
  assert.equal(tty.code, 2);
  assert.match(tty.stdout.toString(), /rootfs: pack: refusing to write archive contents to a terminal .*; usage: rootfs pack <root> \[options\]/);
});

test('pack default excludes, --no-default-excludes, --exclude and --exclude-from', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  makeTree(root, {
    'proc/1/status': 'x',
    'run/lock/x': 'x',
    'var/lib/docker/overlay2/x': 'x',
    'var/lib/rootfs/blobs/sha256/x': 'x',
    'var/cache/man/index.db': 'x',
    'var/log/app.log': 'x',
    'home/u/debug.log': 'x',
    'home/u/keep.txt': 'x',
    'a/file': 'x',
    'b/a/file': 'x',
    'opt/big/blob': 'x',
    'srv/data': 'x',
  });
  const patterns = join(dir, 'patterns');
  writeFileSync(patterns, '# comments and blank lines are ignored\n\n/opt\nsrv/*\n');
  const names = async (args: string[]) => {
    const result = await rootfs(['pack', root, ...args]);
    assert.equal(result.code, 0, result.stderr);
    return [...(await listing(result.stdout)).keys()];
  };
  const all = await names(['--no-default-excludes']);
  assert.ok(all.includes('proc/1/status') && all.includes('var/lib/docker/overlay2/x'));
  const defaults = await names([]);
  for (const kept of ['proc/', 'run/', 'var/lib/docker/', 'var/lib/rootfs/']) assert.ok(defaults.includes(kept), `${kept} kept`);
  for (const gone of ['proc/1/', 'run/lock/', 'var/lib/docker/overlay2/', 'var/lib/rootfs/blobs/']) assert.ok(!defaults.includes(gone), `${gone} emptied`);

  const excluded = await names(['--exclude', 'var/cache/*', '--exclude', '*.log', '--exclude', '/a/file', '--exclude-from', patterns]);
  assert.deepEqual(
    excluded.filter((name) => !name.startsWith('proc') && !name.startsWith('run') && !name.startsWith('var/lib')),
    ['a/', 'b/', 'b/a/', 'b/a/file', 'home/', 'home/u/', 'home/u/keep.txt', 'srv/', 'var/', 'var/cache/', 'var/log/'],
  );
});

test('rootfs presets lists the presets; --preset scrubs what a base image must not carry', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const list = await rootfs(['presets']);
  assert.equal(list.code, 0, list.stderr);
  for (const name of ['host', 'debian', 'centos', 'alpine']) assert.match(list.stdout.toString(), new RegExp(`^${name} +\\S`, 'm'));
  const json = JSON.parse((await rootfs(['presets', '--json'])).stdout.toString()) as { name: string; description: string; exclude: string[]; truncate: string[] }[];
  const debian = json.find((preset) => preset.name === 'debian')!;
  assert.ok(debian.description.length > 0 && debian.exclude.includes('/etc/ssh/ssh_host_*') && debian.truncate.includes('/etc/machine-id'));

  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  makeTree(root, {
    'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
    'etc/ssh/ssh_host_ed25519_key': 'secret',
    'etc/ssh/ssh_host_ed25519_key.pub': 'public',
    'etc/ssh/sshd_config': 'Port 22\n',
    'root/.bash_history': 'ls\n',
    'home/u/.bash_history': 'ls\n',
    'var/log/syslog': 'boot\n',
    'var/log/syslog.1': 'old\n',
    'var/log/apt/history.log.2.gz': 'old',
    'var/cache/apt/archives/bash_5.2_amd64.deb': 'deb',
    'var/cache/apt/archives/partial/': '',
    'var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease': 'list',
    'var/cache/dnf/repo.solv': 'x',
    'var/cache/apk/APKINDEX.tar.gz': 'x',
  });
  const pack = async (preset: string) => {
    const result = await rootfs(['pack', root, '--preset', preset]);
    assert.equal(result.code, 0, result.stderr);
    return listing(result.stdout);
  };
  const scrubbed = await pack('debian');
  assert.equal(scrubbed.get('etc/machine-id'), 0, 'machine-id kept, empty');
  assert.equal(scrubbed.get('var/log/syslog'), 0, 'live log kept, empty');
  assert.equal(scrubbed.get('etc/ssh/sshd_config'), 8);
  for (const gone of ['etc/ssh/ssh_host_ed25519_key', 'etc/ssh/ssh_host_ed25519_key.pub', 'root/.bash_history', 'home/u/.bash_history', 'var/log/syslog.1', 'var/log/apt/history.log.2.gz', 'var/cache/apt/archives/bash_5.2_amd64.deb', 'var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease']) {
    assert.ok(!scrubbed.has(gone), `${gone} removed by the debian preset`);
  }
  for (const kept of ['var/cache/apt/archives/', 'var/cache/apt/archives/partial/', 'var/lib/apt/lists/', 'var/cache/dnf/repo.solv']) assert.ok(scrubbed.has(kept), `${kept} kept by the debian preset`);
  const centos = await pack('centos');
  assert.ok(!centos.has('var/cache/dnf/repo.solv') && centos.has('var/cache/dnf/') && centos.has('var/cache/apt/archives/bash_5.2_amd64.deb'));
  const alpine = await pack('alpine');
  assert.ok(!alpine.has('var/cache/apk/APKINDEX.tar.gz') && alpine.get('etc/machine-id') === 0);
  const host = await pack('host');
  assert.equal(host.get('etc/machine-id'), 33);

  const custom = join(dir, 'site.json');
  writeFileSync(custom, JSON.stringify({ description: 'ours', extends: 'debian', exclude: ['/etc/ssh'] }));
  const site = await pack(custom);
  assert.ok(!site.has('etc/ssh/') && site.get('etc/machine-id') === 0);

  const unknown = await rootfs(['pack', root, '--preset', 'nosuch']);
  assert.equal(unknown.code, 4);
  assert.match(unknown.stderr, /^rootfs: no preset named "nosuch" \(see rootfs presets\)\n$/);
  writeFileSync(custom, JSON.stringify({ description: 'bad', exclude: '/etc' }));
  const bad = await rootfs(['pack', root, '--preset', custom]);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /site\.json: "exclude" must be a list of non-empty glob strings/);
});

test('--mtime and SOURCE_DATE_EPOCH clamp newer times; the same tree packs to the same bytes', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const root = join(makeTempDir(t), 'root');
  makeTree(root, { old: 'o', new: 'n', 'dir/': '' });
  const oldTime = new Date('2001-01-01T00:00:00Z');
  utimesSync(join(root, 'old'), oldTime, oldTime);
  const times = async (args: string[], env?: Record<string, string>) => {
    const result = await rootfs(['pack', root, ...args], { env });
    assert.equal(result.code, 0, result.stderr);
    const { stdout } = await runOk('tar', ['-tv', '--full-time', '--utc', '-f', '-'], { input: result.stdout });
    return { tar: result.stdout, times: Object.fromEntries(stdout.toString().trim().split('\n').map((line) => [line.split(' ').pop()!, line.split(/ +/).slice(3, 5).join(' ')])) };
  };
  const clamped = await times(['--mtime', '2020-01-01T00:00:00Z']);
  assert.deepEqual(clamped.times, { 'dir/': '2020-01-01 00:00:00', new: '2020-01-01 00:00:00', old: '2001-01-01 00:00:00' });
  assert.deepEqual((await times(['--mtime', '1577836800'])).times, clamped.times);
  const fromEnv = await times([], { SOURCE_DATE_EPOCH: '1577836800' });
  assert.equal(sha256(fromEnv.tar), sha256(clamped.tar), 'reproducible: same tree, same clamp, same bytes');

  const bad = await rootfs(['pack', root, '--mtime', 'yesterday']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--mtime must be seconds since 1970 or an ISO 8601 date/);
});

test('pack exits 1 with "file changed as we read it" when a file grows while packed, and the archive is valid', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const dir = makeTempDir(t);
  const root = join(dir, 'root');
  const size = 64 * 1024 * 1024;
  makeTree(root, { big: '' });
  writeFileSync(join(root, 'big'), Buffer.alloc(size, 0x62));
  const child = spawn(process.execPath, [cliPath, 'pack', root], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  // The CLI reads only a few MiB ahead of what has left through the pipe, so at 1 MiB the file is mid-read.
  let seen = 0;
  const grow = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (seen < 1 << 20 && seen + chunk.length >= 1 << 20) writeFileSync(join(root, 'big'), 'more', { flag: 'a' });
      seen += chunk.length;
      callback(null, chunk);
    },
  });
  const archive = join(dir, 'out.tar');
  await pipeline(child.stdout, grow, createWriteStream(archive));
  assert.equal(await exited, 1, stderr);
  assert.match(stderr, new RegExp(`^rootfs: warning: ${join(root, 'big')}: file changed as we read it$`, 'm'));
  assert.match(stderr, /completed with 1 warning/);
  assert.deepEqual([...(await listing(archive)).entries()], [['big', size]]);
});

test('unreadable files: a warning and exit 1, or with --strict exit 5 and no output file left behind', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'tar', 'setpriv')) return;
  const dir = makeTempDir(t);
  chmodSync(dir, 0o755);
  const root = join(dir, 'root');
  makeTree(root, { 'public': 'p', 'secret': 's', 'locked/inside': 'i' });
  chmodSync(join(root, 'secret'), 0o600);
  chmodSync(join(root, 'locked'), 0o700);
  const out = join(dir, 'out');
  mkdirSync(out);
  chownSync(out, 65534, 65534);
  const asNobody = (args: string[]) => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath, 'pack', root, ...args]);

  const lenient = await asNobody(['-o', join(out, 'lenient.tar')]);
  assert.equal(lenient.code, 1, lenient.stderr);
  assert.match(lenient.stderr, new RegExp(`^rootfs: warning: ${join(root, 'secret')}: permission denied; not stored$`, 'm'));
  assert.match(lenient.stderr, new RegExp(`^rootfs: warning: ${join(root, 'locked')}: permission denied; directory stored without its contents$`, 'm'));
  assert.deepEqual([...(await listing(join(out, 'lenient.tar'))).keys()], ['locked/', 'public']);

  const strict = await asNobody(['-o', join(out, 'strict.tar'), '--strict']);
  assert.equal(strict.code, 5);
  assert.match(strict.stderr, /^rootfs: .*\/root\/(locked|secret): permission denied\n$/);
  assert.deepEqual(readdirSync(out), ['lenient.tar'], 'no strict.tar, no temp file');
  assert.equal(existsSync(join(out, 'strict.tar')), false);
});

test('pack of a missing root, into a missing directory, or of a file is refused with one line', async () => {
  const missing = await rootfs(['pack', '/no/such/root', '-o', '/dev/null']);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /^rootfs: \/no\/such\/root: no such file or directory\n$/);
  const noDir = await rootfs(['pack', dirname(cliPath), '-o', '/no/such/dir/out.tar']);
  assert.equal(noDir.code, 4);
  assert.match(noDir.stderr, /^rootfs: \/no\/such\/dir: no such file or directory\n$/);
  const file = await rootfs(['pack', cliPath, '-o', '/dev/null']);
  assert.equal(file.code, 2);
  assert.match(file.stderr, /not a directory/);
});

test('dashed boolean flags may stand before the positional arguments', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const root = join(makeTempDir(t), 'root');
  makeTree(root, { 'proc/1/status': 'x', 'etc/hostname': 'h' });
  // Before the fix, cac took ROOT as the value of --cross-mounts and complained that ROOT was missing.
  const result = await rootfs(['pack', '--cross-mounts', '--no-default-excludes', root, '-o', '-']);
  assert.equal(result.code, 0, result.stderr);
  assert.ok((await listing(result.stdout)).has('proc/1/status'));
});

test('disguiseForCac spells dashed long options in camelCase and leaves everything after "--" alone', () => {
  assert.deepEqual(
    disguiseForCac(['pull', '--all-platforms', 'ref', '--tls-verify=false', '--no-default-excludes', '-o', '-', '--', '--cross-mounts']),
    ['pull', '--allPlatforms', 'ref', '--tlsVerify=false', '--no-default-excludes', '-o', '\u0000stdio\u0000', '--', '--cross-mounts'],
  );
});
