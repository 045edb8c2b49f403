/**
 * The test fixtures, one builder of each: a root tree with every kind of
 * entry, a tar built member by member, and a snapshot of a directory (a
 * store before and after).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../src/native/index.js';
import type { TestContext } from 'node:test';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntry } from '../src/tar/header.js';
import { requireRoot, requireTools } from './helpers.js';

/**
 * A small root filesystem with every kind of entry a host root holds and the
 * issues name: setuid binaries, a file capability, binary xattrs, an ACL,
 * hardlinks, symlinks (one dangling), a fifo, a device, a 200-byte name, a
 * non-UTF-8 name, a file owned by uid 3000000. Needs root, setcap and
 * setfacl; false (the test skipped loudly) without them.
 */
export function makeRootTree(t: TestContext, root: string): boolean {
  // The capability and the ACL are half of what the tree is for: without the tools it is not made, loudly.
  if (!requireRoot(t) || !requireTools(t, 'setcap', 'setfacl')) return false;
  const at = (rel: string): string => join(root, rel);
  for (const dir of ['bin', 'etc/ssh', 'usr/lib', 'var/log', 'home/user', 'dev', 'tmp']) mkdirSync(at(dir), { recursive: true });
  chmodSync(at('tmp'), 0o1777);
  writeFileSync(at('etc/hostname'), 'legacy-host\n');
  writeFileSync(at('etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  writeFileSync(at('bin/ping'), Buffer.alloc(4096, 0x7f));
  chmodSync(at('bin/ping'), 0o755);
  writeFileSync(at('bin/su'), Buffer.alloc(1000, 0x41));
  chmodSync(at('bin/su'), 0o4755);
  writeFileSync(at('usr/lib/big.bin'), Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a));
  // Hardlinks: a group of three, as busybox-style installs have.
  writeFileSync(at('bin/busybox'), 'busybox\n');
  linkSync(at('bin/busybox'), at('bin/sh'));
  linkSync(at('bin/busybox'), at('bin/ls'));
  symlinkSync('busybox', at('bin/dangling-ok'));
  symlinkSync('/nonexistent/target', at('bin/dangling'));
  symlinkSync('../usr/lib', at('bin/lib'));
  writeFileSync(at('home/user/.profile'), 'export PS1=$\n');
  chownSync(at('home/user/.profile'), 1000, 1000);
  chownSync(at('home/user'), 1000, 1000);
  writeFileSync(at('var/log/huge-uid'), 'owned by a big uid\n');
  chownSync(at('var/log/huge-uid'), 3000000, 3000001);
  const longName = `${'n'.repeat(200)}`;
  writeFileSync(at(`etc/${longName}`), 'long name\n');
  const rawName = Buffer.concat([Buffer.from(join(root, 'etc/latin1-')), Buffer.from([0xff, 0xe9]), Buffer.from('.conf')]);
  writeFileSync(rawName, 'not utf-8 name\n');
  native.lsetxattr(Buffer.from(at('etc/hostname')), Buffer.from('user.binary'), Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x01]));
  native.lsetxattr(Buffer.from(at('etc/hostname')), Buffer.from('trusted.note'), Buffer.from('trusted value'));
  for (const [tool, ...args] of [['setcap', 'cap_net_raw+ep', at('bin/ping')], ['setfacl', '-m', 'u:1000:rw', at('etc/passwd')]]) {
    const result = spawnSync(tool!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  native.mknod(Buffer.from(at('dev/null')), 0o020666, 1, 3);
  native.mknod(Buffer.from(at('dev/fifo')), 0o010644, 0, 0);
  // Fixed mtimes so archives of this tree can be compared across tools and runs.
  utimesSync(at('etc/hostname'), 1700000000, 1700000000);
  utimesSync(at('bin/su'), 1600000000, 1600000000);
  return true;
}

/**
 * Every path under dir, one line each, sorted: its mode, and its content's
 * sha256 (a file) or target (a symlink). What "the store is as it was" and
 * "nothing written" are checked against: a temp file left, a lock file made,
 * a blob added or an index rewritten differently all show, by name.
 */
export function snapshot(dir: string): string[] {
  const lines: string[] = [];
  const walk = (path: string, rel: string): void => {
    const info = lstatSync(path);
    const detail = info.isSymbolicLink() ? `-> ${readlinkSync(path)}` : info.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : '';
    lines.push(`${rel} ${info.mode.toString(8)} ${detail}`);
    if (info.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name), `${rel}/${name}`);
  };
  walk(dir, '.');
  return lines;
}

/** One member of a tar made by tarOf; what is left out takes the usual value. */
export interface TarMember {
  path: string | Buffer;
  /** A directory when the path ends in '/', a symlink when linkpath is given, else a file. */
  type?: TarEntry['type'];
  body?: string | Buffer;
  /** Symlink or hardlink target. */
  linkpath?: string | Buffer;
  /** 0755 for a directory, 0644 otherwise. */
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs?: Record<string, Buffer>;
  /** pax records we do not model, written as they are. */
  pax?: Map<string, Buffer>;
}

/**
 * A tar of the members, in order, written with our own header encoder: a
 * test breaks exactly one thing (a name, a link, a body) that no tree on disk
 * can make GNU tar write. `end` replaces the end-of-archive blocks (to cut or
 * pad an archive).
 */
export function tarOf(members: TarMember[], end: Buffer = END_OF_ARCHIVE): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    const type = member.type ?? (typeof member.path === 'string' && member.path.endsWith('/') ? 'directory' : member.linkpath === undefined ? 'file' : 'symlink');
    const body = type === 'file' ? Buffer.from(member.body ?? '') : Buffer.alloc(0);
    const entry: TarEntry = { path: Buffer.from(member.path), type, mode: member.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: member.uid ?? 0, gid: member.gid ?? 0, size: body.length, mtime: member.mtime ?? 1700000000 };
    if (member.linkpath !== undefined) entry.linkpath = Buffer.from(member.linkpath);
    if (member.xattrs) entry.xattrs = new Map(Object.entries(member.xattrs));
    if (member.pax) entry.pax = member.pax;
    parts.push(encodeHeader(entry), body, Buffer.alloc(padding(body.length)));
  }
  parts.push(end);
  return Buffer.concat(parts);
}
