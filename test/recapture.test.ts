/**
 * Re-capture is exact: a file edited within the same second as the capture
 * (same size, same whole-second mtime) is in the delta from every source
 * (directory, tar file, tar stream, commit) and in diff; an unchanged
 * directory costs no content read once its inodes are older than the base's
 * capture; the store in the tree is never compared.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { makeTempDir, pastTheCaptureMargin, requireTools, rootfs, runOk } from './helpers.js';

interface Fixture {
  work: string;
  tree: string;
  conf: string;
  ok: (args: string[], input?: Buffer) => Promise<string>;
  /** The member names of REF's top layer. */
  topLayer: (ref: string) => Promise<string[]>;
  /** etc/conf as `export REF` writes it. */
  exported: (ref: string) => Promise<string>;
}

/** A small tree; etc/conf says v1 with an mtime of this very second, as a file written just before a capture has. */
function fixture(t: TestContext, store?: (work: string, tree: string) => string): Fixture {
  const work = makeTempDir(t, 'rootfs-recapture-');
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  mkdirSync(join(tree, 'usr/bin'), { recursive: true });
  writeFileSync(join(tree, 'usr/bin/tool'), 'binary\n'.repeat(100));
  writeFileSync(join(tree, 'etc/hosts'), '127.0.0.1 localhost\n');
  const conf = join(tree, 'etc/conf');
  writeFileSync(conf, 'v1\n');
  const second = Math.floor(Date.now() / 1000);
  utimesSync(conf, second, second);
  const storeDir = store ? store(work, tree) : join(work, 'store');
  const ok = async (args: string[], input?: Buffer): Promise<string> => {
    const result = await rootfs(['--store', storeDir, ...args], input ? { input } : {});
    assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
    return result.stdout.toString();
  };
  return {
    work,
    tree,
    conf,
    ok,
    async topLayer(ref) {
      const manifest = (JSON.parse(await ok(['inspect', ref])) as Array<{ Manifest: { layers: Array<{ digest: string }> } }>)[0]!.Manifest;
      const blob = join(storeDir, 'blobs/sha256', manifest.layers[manifest.layers.length - 1]!.digest.slice(7));
      return (await runOk('tar', ['-tzf', blob])).stdout.toString().split('\n').filter(Boolean).sort();
    },
    async exported(ref) {
      const tar = join(work, `${ref.replace(/\W/g, '_')}.tar`);
      await ok(['export', ref, '-o', tar]);
      return (await runOk('tar', ['-xOf', tar, 'etc/conf'])).stdout.toString();
    },
  };
}

/** v2 over v1: the same size, the mtime set back to the same second. */
function editWithinTheSecond(f: Fixture): void {
  const { mtime } = lstatSync(f.conf);
  writeFileSync(f.conf, 'v2\n');
  utimesSync(f.conf, mtime, mtime);
}

test('a same-size edit within the capture\'s second is in the delta from a directory, a tar file, a tar stream and commit; export says v2; diff lists it', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const f = fixture(t);
  await f.ok(['import', f.tree, 'host:v1']);
  editWithinTheSecond(f);

  await f.ok(['import', f.tree, 'host:dir', '--base', 'host:v1']);
  await f.ok(['commit', f.tree, 'host:commit', '--base', 'host:v1']);
  const tar = join(f.work, 'v2.tar');
  await f.ok(['pack', f.tree, '-o', tar]);
  await f.ok(['import', tar, 'host:file', '--base', 'host:v1']);
  const { stdout } = await runOk('cat', [tar]);
  await f.ok(['import', '-', 'host:stream', '--base', 'host:v1'], stdout);
  for (const ref of ['host:dir', 'host:commit', 'host:file', 'host:stream']) {
    assert.deepEqual(await f.topLayer(ref), ['etc/', 'etc/conf'], ref);
    assert.equal(await f.exported(ref), 'v2\n', ref);
  }
  assert.equal(await f.ok(['diff', 'host:v1', f.tree]), 'C /etc/conf\n');
  assert.equal(await f.ok(['diff', 'host:v1', tar]), 'C /etc/conf\n');
  assert.equal(await f.ok(['diff', 'host:v1', 'host:dir']), 'C /etc/conf\n');

  // A base from a tar (pack | import -): when its files were read is not known, so a directory's matching files are all read.
  const v1tar = join(f.work, 'v1.tar');
  writeFileSync(f.conf, 'v1\n');
  await f.ok(['pack', f.tree, '-o', v1tar]);
  await f.ok(['import', v1tar, 'host:t1']);
  editWithinTheSecond(f);
  const json = JSON.parse(await f.ok(['import', f.tree, 'host:t2', '--base', 'host:t1', '--json'])) as { changed: number; filesRead: number };
  assert.equal(json.changed, 1);
  assert.deepEqual(await f.topLayer('host:t2'), ['etc/', 'etc/conf']);
  assert.equal(await f.exported('host:t2'), 'v2\n');
});

test('an unchanged directory re-captures to an empty layer reading no file older than the capture; a file whose inode changed since is read', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const f = fixture(t);
  await pastTheCaptureMargin(f.tree);
  await f.ok(['import', f.tree, 'host:v1']);
  const same = JSON.parse(await f.ok(['import', f.tree, 'host:same', '--base', 'host:v1', '--json'])) as { added: number; changed: number; deleted: number; contentBytesRead: number; filesRead: number };
  assert.deepEqual([same.added, same.changed, same.deleted, same.contentBytesRead, same.filesRead], [0, 0, 0, 0, 0]);
  assert.deepEqual(await f.topLayer('host:same'), []);
  assert.equal(await f.ok(['diff', 'host:v1', f.tree]), '');

  // The same bytes written again: read to be hashed, found equal, not carried.
  const hosts = join(f.tree, 'etc/hosts');
  const { mtime } = lstatSync(hosts);
  writeFileSync(hosts, '127.0.0.1 localhost\n');
  utimesSync(hosts, mtime, mtime);
  const rewritten = JSON.parse(await f.ok(['import', f.tree, 'host:rewritten', '--base', 'host:v1', '--json'])) as { changed: number; filesRead: number; contentBytesRead: number };
  assert.deepEqual([rewritten.changed, rewritten.filesRead, rewritten.contentBytesRead], [0, 1, 20]);

  // --checksum reads every file.
  const checked = JSON.parse(await f.ok(['import', f.tree, 'host:checked', '--base', 'host:v1', '--checksum', '--json'])) as { changed: number; filesRead: number };
  assert.deepEqual([checked.changed, checked.filesRead], [0, 3]);

  // A capture's time says nothing about another directory (a copy, another host): its files are read.
  const copy = join(f.work, 'copy');
  await runOk('cp', ['-a', f.tree, copy]);
  const other = JSON.parse(await f.ok(['import', copy, 'host:copy', '--base', 'host:v1', '--json'])) as { changed: number; filesRead: number };
  assert.deepEqual([other.changed, other.filesRead], [0, 3]);
});

test('the store inside the tree is not compared: identical runs give empty layers and an empty diff, not a directory that comes and goes', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const f = fixture(t, (_work, tree) => join(tree, 'var/lib/store'));
  await f.ok(['import', f.tree, 'host:v1']);
  for (let run = 0; run < 3; run++) {
    assert.equal(await f.ok(['diff', 'host:v1', f.tree]), '', `diff, run ${run}`);
    await f.ok(['import', f.tree, `host:run${run}`, '--base', 'host:v1']);
    assert.deepEqual(await f.topLayer(`host:run${run}`), [], `import --base, run ${run}`);
  }
});

test('the capture time stays only with the tree it describes: config keeps it, append and a tar re-capture drop it', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const f = fixture(t);
  await f.ok(['import', f.tree, 'host:v1']);
  const annotations = async (ref: string): Promise<Record<string, string>> =>
    (JSON.parse(await f.ok(['inspect', ref])) as Array<{ Manifest: { annotations?: Record<string, string> } }>)[0]!.Manifest.annotations ?? {};
  const v1 = await annotations('host:v1');
  assert.match(v1['io.rootfs.capture.started']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.ok(v1['io.rootfs.capture.root']);
  await f.ok(['config', 'host:v1', 'host:configured', '-c', 'ENV A=1']);
  assert.equal((await annotations('host:configured'))['io.rootfs.capture.started'], v1['io.rootfs.capture.started']);
  const extra = join(f.work, 'extra');
  mkdirSync(extra);
  writeFileSync(join(extra, 'added'), 'x');
  await f.ok(['append', 'host:v1', extra, 'host:appended']);
  assert.equal((await annotations('host:appended'))['io.rootfs.capture.started'], undefined);
  const tar = join(f.work, 'again.tar');
  await f.ok(['pack', f.tree, '-o', tar]);
  await f.ok(['import', tar, 'host:fromtar', '--base', 'host:v1']);
  assert.equal((await annotations('host:fromtar'))['io.rootfs.capture.started'], undefined);
});

test('from a tar, matching bodies are hashed whatever their size: a changed 2 MiB file is carried whole, an unchanged one not, and no temp file is left', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const f = fixture(t);
  const big = join(f.tree, 'usr/bin/big');
  const same = join(f.tree, 'usr/bin/same');
  writeFileSync(big, Buffer.alloc(2 << 20, 1));
  writeFileSync(same, Buffer.alloc(3 << 20, 2));
  await f.ok(['import', f.tree, 'host:v1']);
  const { mtime } = lstatSync(big);
  writeFileSync(big, Buffer.alloc(2 << 20, 3));
  utimesSync(big, mtime, mtime);
  editWithinTheSecond(f);
  const tar = join(f.work, 'v2.tar');
  await f.ok(['pack', f.tree, '-o', tar]);
  const tmp = join(f.work, 'tmp');
  mkdirSync(tmp);
  const result = await rootfs(['--store', join(f.work, 'store'), 'import', tar, 'host:v2', '--base', 'host:v1'], { env: { TMPDIR: tmp } });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await f.topLayer('host:v2'), ['etc/', 'etc/conf', 'usr/', 'usr/bin/', 'usr/bin/big']);
  const out = join(f.work, 'v2-export.tar');
  await f.ok(['export', 'host:v2', '-o', out]);
  const body = (await runOk('tar', ['-xOf', out, 'usr/bin/big'])).stdout;
  assert.ok(body.equals(Buffer.alloc(2 << 20, 3)));
  assert.deepEqual(readdirSync(tmp), []);
});
