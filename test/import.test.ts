import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeHeader } from '../src/tar/header.js';
import { makeRootTree } from './fixtures.js';
import { cliPath, makeTempDir, ociImageToolValidate, requireRoot, requireTools, rootfs, run, runOk, skipLoudly, waitFor, watching } from './helpers.js';
import { describeTree } from './tree.js';
import { tarOf } from './fixtures.js';

const gnuTarArgs = ['--numeric-owner', '--xattrs', "--xattrs-include=*", '--acls', '--sort=name'];

function storeEnv(store: string): { env: Record<string, string> } {
  return { env: { ROOTFS_STORE: store } };
}

async function inspectJson(store: string, ref: string): Promise<any> {
  const result = await rootfs(['inspect', ref], storeEnv(store));
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.toString());
}

test('import: a root tarball becomes an image the peers read, and umoci unpacks the same tree', async (t) => {
  if (!requireRoot(t) || !requireTools(t, 'tar', 'skopeo', 'umoci', 'oci-image-tool')) return;
  const dir = makeTempDir(t);
  const source = join(dir, 'source');
  const store = join(dir, 'store');
  mkdirSync(source);
  if (!makeRootTree(t, source)) return;
  await runOk('tar', [...gnuTarArgs, '-cf', join(dir, 'root.tar'), '-C', source, '.']);

  const result = await rootfs(['import', join(dir, 'root.tar'), 'legacy/base:7', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV LANG=C.UTF-8', '-m', 'migrated host', '--platform', 'linux/amd64'], storeEnv(store));
  assert.equal(result.code, 0, result.stderr);
  const imageId = result.stdout.toString().trim();
  assert.match(imageId, /^sha256:[0-9a-f]{64}$/);

  await ociImageToolValidate(store, 'legacy/base:7');
  const config = JSON.parse((await runOk('skopeo', ['inspect', '--config', `oci:${store}:legacy/base:7`])).stdout.toString());
  assert.deepEqual(config.config.Cmd, ['/bin/sh']);
  assert.deepEqual(config.config.Env, ['LANG=C.UTF-8']);
  assert.equal(config.architecture, 'amd64');
  assert.equal(config.os, 'linux');
  // skopeo re-serialises into the OCI struct, which has no top-level comment (a Docker field): read our bytes.
  const configDigest = imageId.slice('sha256:'.length);
  assert.equal(JSON.parse(readFileSync(join(store, 'blobs/sha256', configDigest), 'utf8')).comment, 'migrated host');
  assert.equal(config.history.length, 1);
  assert.equal(config.history[0].comment, 'migrated host');
  assert.equal(config.rootfs.diff_ids.length, 1);
  // The diff_id is the sha256 of the tar exactly as given.
  const tarDigest = (await runOk('sha256sum', [join(dir, 'root.tar')])).stdout.toString().split(' ')[0];
  assert.equal(config.rootfs.diff_ids[0], `sha256:${tarDigest}`);
  const inspected = await inspectJson(store, 'legacy/base:7');
  assert.equal(JSON.stringify(inspected).includes(imageId), true, 'inspect shows the image ID');

  const bundle = join(dir, 'bundle');
  await runOk('umoci', ['unpack', '--image', `${store}:legacy/base:7`, bundle]);
  assert.deepEqual(describeTree(join(bundle, 'rootfs'), { withMtime: true }), describeTree(source, { withMtime: true }));
});

test('import: every input compression gives the same diff_id; the same tar twice adds no blob', async (t) => {
  if (!requireTools(t, 'tar', 'gzip', 'zstd', 'xz', 'bzip2')) return;
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  mkdirSync(join(dir, 'src/etc'), { recursive: true });
  writeFileSync(join(dir, 'src/etc/os-release'), 'ID=test\n'.repeat(1000));
  const tar = join(dir, 'root.tar');
  await runOk('tar', ['--numeric-owner', '-cf', tar, '-C', join(dir, 'src'), '.']);
  const diffIds = new Set<string>();
  const layers = new Set<string>();
  for (const [name, compress] of [['plain', null], ['gzip', 'gzip'], ['zstd', 'zstd'], ['xz', 'xz'], ['bzip2', 'bzip2']] as const) {
    const input = compress ? (await runOk(compress, ['-c', tar])).stdout : readFileSync(tar);
    const result = await rootfs(['import', '-', `c:${name}`], { input, ...storeEnv(store) });
    assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    const manifest = (await inspectJson(store, `c:${name}`)).Config ?? (await inspectJson(store, `c:${name}`));
    diffIds.add(JSON.stringify(manifest).match(/"diff_ids":\["(sha256:[0-9a-f]+)"/)![1]!);
  }
  assert.equal(diffIds.size, 1, 'one diff_id whatever the input compression');

  const blobsBefore = readdirSync(join(store, 'blobs/sha256')).length;
  for (const ref of ['again:1', 'again:2']) {
    const result = await rootfs(['import', tar, ref, '--json'], storeEnv(store));
    assert.equal(result.code, 0, result.stderr);
    layers.add(JSON.parse(result.stdout.toString()).layer.digest);
  }
  assert.equal(layers.size, 1, 'deterministic compression: the same layer digest');
  // Each import adds only its config and manifest (different creation times), never a second layer.
  assert.equal(readdirSync(join(store, 'blobs/sha256')).length, blobsBefore + 4);

  for (const compression of ['zstd', 'none']) {
    const result = await rootfs(['import', tar, `k:${compression}`, '--compression', compression, '--json'], storeEnv(store));
    assert.equal(result.code, 0, result.stderr);
    const layer = JSON.parse(result.stdout.toString()).layer;
    assert.equal(layer.mediaType, compression === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : 'application/vnd.oci.image.layer.v1.tar');
  }
});

test('import: hostile and broken inputs are refused with one line naming the problem, the index untouched', async (t) => {
  if (!requireTools(t, 'gzip')) return;
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const good = tarOf([{ path: 'etc/' , type: 'directory' }, { path: 'etc/hosts', body: '127.0.0.1 localhost\n' }]);
  assert.equal((await rootfs(['import', '-', 'good:1'], { input: good, ...storeEnv(store) })).code, 0);
  const indexBefore = readFileSync(join(store, 'index.json'));
  const gzipped = (await runOk('gzip', ['-c'], { input: Buffer.concat([good, Buffer.alloc(100000, 7)]) })).stdout;
  const corruptGzip = Buffer.from(gzipped);
  corruptGzip.fill(0x55, 40, 60);

  const cases: Array<[string, Buffer, RegExp]> = [
    ['dot-dot', tarOf([{ path: '../etc/passwd', body: 'x' }]), /\.\..*etc\/passwd|etc\/passwd.*\.\./],
    ['nested dot-dot', tarOf([{ path: 'a/../../b', body: 'x' }]), /a\/\.\.\/\.\.\/b/],
    ['absolute', tarOf([{ path: '/etc/shadow', body: 'x' }]), /\/etc\/shadow/],
    ['hardlink escape', tarOf([{ path: 'x', type: 'hardlink', linkpath: '../../etc/shadow' }]), /etc\/shadow/],
    ['truncated', good.subarray(0, 700), /truncated/],
    ['no end marker', good.subarray(0, good.length - 1024), /truncated|end-of-archive/],
    ['corrupt gzip', corruptGzip, /gzip/],
    ['not a tar', Buffer.alloc(2048, 0x41), /not a tar|checksum/],
  ];
  for (const [name, input, message] of cases) {
    const result = await rootfs(['import', '-', `bad:${name.replace(/ /g, '-')}`], { input, ...storeEnv(store) });
    assert.equal(result.code, 3, `${name}: exit code (stderr: ${result.stderr})`);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${name}: one line, got ${result.stderr}`);
    assert.match(lines[0]!, /^rootfs: stdin: /, name);
    assert.match(lines[0]!, message, name);
    assert.deepEqual(readFileSync(join(store, 'index.json')), indexBefore, `${name}: index.json unchanged`);
  }
  // No temp files were left behind by the failures.
  assert.deepEqual(readdirSync(join(store, 'blobs/sha256')).filter((name) => name.startsWith('.')), []);

  const badChange = await rootfs(['import', '-', 'bad:change', '-c', 'RUN rm -rf /'], { input: good, ...storeEnv(store) });
  assert.equal(badChange.code, 2);
  assert.match(badChange.stderr, /RUN is not a valid change instruction/);
  const missing = await rootfs(['import', join(dir, 'nope.tar'), 'bad:missing'], storeEnv(store));
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /nope\.tar: no such file/);
  assert.deepEqual(readFileSync(join(store, 'index.json')), indexBefore);
});

test('import: a blob damaged on disk is detected on read and repaired by re-importing it', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const tar = tarOf([{ path: 'etc/hosts', body: 'x'.repeat(5000) }]);
  const first = await rootfs(['import', '-', 'img:1', '--json'], { input: tar, ...storeEnv(store) });
  assert.equal(first.code, 0, first.stderr);
  const layer = JSON.parse(first.stdout.toString()).layer.digest as string;
  const blob = join(store, 'blobs/sha256', layer.slice(7));
  const damaged = readFileSync(blob);
  damaged[damaged.length - 5] ^= 0xff;
  writeFileSync(blob, damaged);
  const indexBefore = readFileSync(join(store, 'index.json'));

  if (requireTools(t, 'umoci')) {
    const unpack = await run('umoci', ['unpack', '--image', `${store}:img:1`, join(dir, 'bundle')]);
    assert.notEqual(unpack.code, 0, 'umoci refuses the damaged layer too');
  }
  const exported = await rootfs(['export', 'img:1', '-o', join(dir, 'out.tar')], storeEnv(store));
  if (exported.stderr.includes("unknown command 'export'")) t.diagnostic('export not built yet: damaged-read check done through umoci only');
  else {
    assert.equal(exported.code, 3, exported.stderr);
    // The gzip CRC or the digest check, whichever ends first, names the damaged layer.
    assert.match(exported.stderr, new RegExp(`${layer.slice(7, 19)}.*(digest mismatch|corrupt gzip)`));
    assert.equal(existsSync(join(dir, 'out.tar')), false);
  }
  assert.deepEqual(readFileSync(join(store, 'index.json')), indexBefore);

  const again = await rootfs(['import', '-', 'img:2'], { input: tar, ...storeEnv(store) });
  assert.equal(again.code, 0, again.stderr);
  assert.notDeepEqual(readFileSync(blob), damaged, 'the re-imported layer replaced the damaged bytes');
});

test('import: four imports into one store at once all land', async (t) => {
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  const results = await Promise.all(
    [1, 2, 3, 4].map((n) => rootfs(['import', '-', `par:${n}`], { input: tarOf([{ path: `file${n}`, body: `content ${n}\n`.repeat(10000) }]), ...storeEnv(store) })),
  );
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  const images = await rootfs(['images', '--json'], storeEnv(store));
  const names = JSON.stringify(JSON.parse(images.stdout.toString()));
  for (const n of [1, 2, 3, 4]) assert.match(names, new RegExp(`par.*${n}`));
  if (requireTools(t, 'oci-image-tool')) {
    for (const n of [1, 2, 3, 4]) await ociImageToolValidate(store, `par:${n}`);
  }
});

test('import: SIGKILL in the middle leaves the store valid and untouched; the next command (gc) removes the leftovers', async (t) => {
  if (!requireTools(t, 'oci-image-tool')) return;
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  assert.equal((await rootfs(['import', '-', 'keep:1'], { input: tarOf([{ path: 'a', body: 'a' }]), ...storeEnv(store) })).code, 0);
  const indexBefore = readFileSync(join(store, 'index.json'));

  const child = spawn(process.execPath, [cliPath, 'import', '-', 'killed:1'], { env: { ...process.env, ROOTFS_STORE: store }, stdio: ['pipe', 'ignore', 'ignore'] });
  const header = encodeHeader({ path: Buffer.from('big'), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1 << 30, mtime: 0 });
  child.stdin.on('error', () => {});
  child.stdin.write(header);
  const chunk = Buffer.alloc(1 << 20, 1);
  for (let i = 0; i < 8; i++) child.stdin.write(chunk);
  // Kill once the layer temp file has data in it.
  const tmp = join(store, '.rootfs', 'tmp');
  const hasData = (): boolean => readdirSync(tmp).some((name) => name.startsWith(`blob-${child.pid}-`) && statSync(join(tmp, name)).size > 0);
  await waitFor('the killed import\'s layer temp file to hold data', hasData, [watching(tmp)]);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;

  assert.deepEqual(readFileSync(join(store, 'index.json')), indexBefore);
  await ociImageToolValidate(store, 'keep:1');
  assert.ok(readdirSync(join(store, '.rootfs', 'tmp')).some((name) => name.startsWith(`blob-${child.pid}-`)), 'the killed import left its temp file');
  // Its PID is dead: opening the store (any command; gc here) removes it.
  const gc = await rootfs(['gc', '--json'], storeEnv(store));
  assert.equal(gc.code, 0, gc.stderr);
  assert.deepEqual(readdirSync(join(store, '.rootfs', 'tmp')), []);
  await ociImageToolValidate(store, 'keep:1');
});

test('an input whose read fails (/proc/self/mem: EIO) is a host I/O error naming it, for import, load and split alike, and nothing is tagged', async (t) => {
  if (!existsSync('/proc/self/mem')) {
    skipLoudly(t, 'SKIPPED: no /proc/self/mem to fail a read with (mount procfs on /proc)');
    return;
  }
  const dir = makeTempDir(t);
  const store = join(dir, 'store');
  for (const args of [['import', '/proc/self/mem', 'mem:1'], ['load', '-i', '/proc/self/mem'], ['split', '/proc/self/mem', '--size', '1M', '-o', join(dir, 'parts')]]) {
    const result = await rootfs(args, storeEnv(store));
    assert.equal(result.code, 5, `${args[0]}: ${result.stderr}`);
    assert.match(result.stderr, /^rootfs: \/proc\/self\/mem: i\/o error\n$/, args[0]);
  }
  assert.equal(existsSync(store), false, 'the failed commands removed the store they had created');
});
