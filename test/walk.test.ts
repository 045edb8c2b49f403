/**
 * pack's walk lists each directory in one native call (readdir, lstat,
 * xattrs): what it yields must be what Node's per-entry
 * calls give, entry by entry, for the names and files a live root has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../src/native/index.js';
import { readXattrs } from '../src/pack/entry.js';
import { walkTree, type WalkEntry } from '../src/pack/walk.js';
import { makeTempDir, requireRoot, runOk } from './helpers.js';

const rawName = Buffer.from([0x72, 0x61, 0x77, 0x2d, 0xff, 0x2d, 0x6e, 0x61, 0x6d, 0x65]); // "raw-\xff-name"
const FIELDS = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blocks', 'mtimeNs', 'ctimeNs'] as const;

function walk(root: string): WalkEntry[] {
  return [...walkTree(Buffer.from(root), (path, err) => assert.fail(`${path.toString()}: ${err.message}`))];
}

/** Node's readdir order is not sorted; the walk's is raw bytes, depth first. */
function nodeWalk(dir: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
    const child = Buffer.concat([dir, Buffer.from('/'), name]);
    out.push(child);
    if (lstatSync(child).isDirectory()) out.push(...nodeWalk(child));
  }
  return out;
}

test('the native listing gives what readdir, lstat and llistxattr/lgetxattr give, entry by entry, non-UTF-8 names and xattr names included', async (t) => {
  if (!requireRoot(t)) return;
  const root = join(makeTempDir(t, 'rootfs-walk-'), 'root');
  const at = (path: string) => join(root, path);
  mkdirSync(at('a/b'), { recursive: true });
  writeFileSync(at('a/small'), 'small\n');
  writeFileSync(at('a/empty'), '');
  writeFileSync(at('a/edge'), Buffer.alloc(64 << 10, 0x62));
  writeFileSync(at('a/larger'), Buffer.alloc((64 << 10) + 1, 0x63));
  writeFileSync(at('a/b/linked'), 'two names\n');
  linkSync(at('a/b/linked'), at('a/b/other-name'));
  writeFileSync(at('a/sparse'), '');
  truncateSync(at('a/sparse'), 1 << 20);
  writeFileSync(Buffer.concat([Buffer.from(`${root}/a/`), rawName]), 'raw\n');
  mkdirSync(Buffer.concat([Buffer.from(`${root}/`), rawName]));
  symlinkSync('small', at('a/link'));
  await runOk('mkfifo', [at('a/fifo')]);
  await runOk('mknod', [at('a/bigdev'), 'c', '300', '70000']);
  const file = Buffer.from(at('a/small'));
  native.lsetxattr(file, Buffer.from('user.zeta'), Buffer.from('last'));
  native.lsetxattr(file, Buffer.from('user.alpha'), Buffer.alloc(0));
  native.lsetxattr(file, Buffer.from('trusted.big'), Buffer.alloc(1000, 0x78)); // a value larger than most
  native.lsetxattr(Buffer.from(at('a/b')), Buffer.from('user.dir'), Buffer.from('on a directory'));
  native.lsetxattr(Buffer.concat([Buffer.from(`${root}/a/`), rawName]), Buffer.from([0x75, 0x73, 0x65, 0x72, 0x2e, 0xfe]), Buffer.from('raw xattr name'));

  const entries = walk(root);
  assert.deepEqual(
    entries.map((entry) => entry.absolute),
    nodeWalk(Buffer.from(root)),
  );
  for (const entry of entries) {
    const reference = lstatSync(entry.absolute, { bigint: true });
    for (const field of FIELDS) assert.equal(entry.stat[field], reference[field], `${entry.relative.toString()} ${field}`);
    for (const kind of ['isDirectory', 'isFile', 'isSymbolicLink', 'isCharacterDevice', 'isBlockDevice', 'isFIFO', 'isSocket'] as const) {
      assert.equal(entry.stat[kind](), reference[kind](), `${entry.relative.toString()} ${kind}`);
    }
    assert.deepEqual(entry.xattrs(), readXattrs(entry.absolute, false), `${entry.relative.toString()} xattrs`);
  }
  assert.deepEqual([...entries.find((entry) => entry.relative.toString() === 'a/small')!.xattrs()!.keys()], ['trusted.big', 'user.alpha', 'user.zeta']);
});

test('a listing that fails is reported with the error Node gives, and the walk goes on', (t) => {
  if (!requireRoot(t)) return;
  const root = makeTempDir(t, 'rootfs-walk-');
  mkdirSync(join(root, 'gone'));
  writeFileSync(join(root, 'later'), 'x');
  const seen: string[] = [];
  const errors: string[] = [];
  for (const entry of walkTree(Buffer.from(root), (_path, err, during) => errors.push(`${during} ${err.code} ${err.message}`))) {
    seen.push(entry.relative.toString());
    if (entry.relative.toString() === 'gone') rmSync(join(root, 'gone'), { recursive: true });
  }
  assert.deepEqual(seen, ['gone', 'later']);
  assert.deepEqual(errors, [`readdir ENOENT ENOENT: no such file or directory, scandir '${join(root, 'gone')}'`]);
});
