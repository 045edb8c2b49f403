/**
 * A tree's metadata as one comparable object, for "the unpacked image equals
 * the source" assertions: type, mode, owner, size, content hash, link target,
 * device numbers, xattrs, and which paths share an inode (hardlink groups).
 * mtimes are left out by default: directories' mtimes change as a tree is
 * written, and each peer restores them differently.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../src/native/index.js';

export interface TreeEntry {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: string;
  xattrs?: Record<string, string>;
  /** The first path (in sorted order) with the same inode, for hardlinks. */
  linkGroup?: string;
  mtime?: number;
}

export interface DescribeOptions {
  /** Xattr names to leave out (e.g. security.selinux, which umoci drops). */
  ignoreXattrs?: string[];
  withMtime?: boolean;
  /** Paths (relative, no leading slash) to leave out with their subtrees. */
  ignorePaths?: string[];
}

export function describeTree(root: string, options: DescribeOptions = {}): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const inodes = new Map<string, string>();
  const walk = (relative: string): void => {
    const names = readdirSync(join(root, relative), { encoding: 'buffer' }).sort(Buffer.compare);
    for (const name of names) {
      const rel = relative === '' ? name.toString('latin1') : `${relative}/${name.toString('latin1')}`;
      if (options.ignorePaths?.includes(rel)) continue;
      const full = Buffer.from(join(root, rel), 'latin1');
      const st = lstatSync(full, { bigint: true });
      const mode = Number(st.mode);
      const entry: TreeEntry = { type: typeOf(mode), mode: (mode & 0o7777).toString(8), uid: Number(st.uid), gid: Number(st.gid) };
      if (entry.type === 'file') {
        entry.size = Number(st.size);
        entry.sha256 = createHash('sha256').update(readFileSync(full)).digest('hex');
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          const first = inodes.get(key);
          if (first) entry.linkGroup = first;
          else inodes.set(key, rel);
        }
      }
      if (entry.type === 'symlink') entry.link = readlinkSync(full, { encoding: 'buffer' }).toString('latin1');
      if (entry.type === 'chardev' || entry.type === 'blockdev') entry.rdev = st.rdev.toString(16);
      if (options.withMtime && entry.type !== 'directory') entry.mtime = Number(st.mtimeMs / 1000n);
      const xattrs: Record<string, string> = {};
      for (const xname of native.llistxattr(full)) {
        const key = xname.toString('latin1');
        if (options.ignoreXattrs?.includes(key)) continue;
        const value = native.lgetxattr(full, xname);
        if (value) xattrs[key] = value.toString('hex');
      }
      if (Object.keys(xattrs).length > 0) entry.xattrs = xattrs;
      out[rel] = entry;
      if (entry.type === 'directory') walk(rel);
    }
  };
  walk('');
  return out;
}

function typeOf(mode: number): string {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'directory';
    case 0o120000: return 'symlink';
    case 0o020000: return 'chardev';
    case 0o060000: return 'blockdev';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: return `unknown(${mode.toString(8)})`;
  }
}
