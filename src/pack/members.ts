/**
 * A directory tree as a stream of members for compare (import/commit
 * --base, diff, append): pack's walk and metadata, with file content opened
 * only when a member's content is asked for, so an unchanged file is never
 * read. The walk, its path rules and flags are pack's own (tree.ts).
 */
import { closeSync, fstatSync, readlinkSync } from 'node:fs';
import { Readable } from 'node:stream';
import { displayPath, fromFsError, HostIoError } from '../errors.js';
import { viaShortPath } from '../io/long-path.js';
import type { TreeMember } from '../layers/members.js';
import type { TarEntry } from '../tar/header.js';
import { FileContent, looksSparse, openForReading } from './content.js';
import { deviceNumbers, mtimeSeconds } from './entry.js';
import type { TreeWalk } from './tree.js';

/** Counts what was read of file contents: the proof that an unchanged tree costs metadata only. */
export interface ReadCounter {
  bytes: number;
  files: number;
}

/** The members of pack's walk (the same rules and flags), any error thrown: a file the compare cannot read must not become a deletion. */
export function* directoryMembers(tree: TreeWalk, counter: ReadCounter = { bytes: 0, files: 0 }): Generator<TreeMember, void, undefined> {
  const firstNames = new Map<string, { path: Buffer; left: bigint }>();
  const fail = (absolute: Buffer, err: unknown): never => {
    throw fromFsError(err, absolute);
  };
  for (const item of tree.entries((absolute, err) => fail(absolute, err))) {
    const { relative, absolute, stat } = item;
    const entry: TarEntry = { path: relative, type: 'file', mode: Number(stat.mode & 0o7777n), uid: Number(stat.uid), gid: Number(stat.gid), size: 0, mtime: mtimeSeconds(stat, tree.options.clampMtime) };
    const xattrs = item.xattrs();
    if (xattrs) entry.xattrs = xattrs;
    if (stat.isDirectory()) {
      entry.type = 'directory';
      yield { entry };
    } else if (stat.isSymbolicLink()) {
      entry.type = 'symlink';
      entry.linkpath = viaShortPath(absolute, (path) => readlinkSync(path, { encoding: 'buffer' }));
      yield { entry };
    } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
      entry.type = stat.isCharacterDevice() ? 'chardev' : 'blockdev';
      Object.assign(entry, deviceNumbers(stat.rdev));
      yield { entry };
    } else if (stat.isFIFO()) {
      entry.type = 'fifo';
      yield { entry };
    } else if (stat.isFile()) {
      const linked = stat.nlink > 1n;
      const key = `${stat.dev}:${stat.ino}`;
      const first = linked ? firstNames.get(key) : undefined;
      if (first) {
        if (--first.left === 0n) firstNames.delete(key);
        yield { entry: { ...entry, type: 'hardlink', linkpath: first.path } };
        continue;
      }
      if (linked) firstNames.set(key, { path: relative, left: stat.nlink - 1n });
      if (tree.rules.truncated(relative)) {
        yield { entry, linked };
        continue;
      }
      entry.size = Number(stat.size);
      const sparse = looksSparse(stat);
      const { ino, dev } = stat;
      yield { entry, linked, replayable: true, ctimeNs: stat.ctimeNs, content: () => fileContent(absolute, entry.size, sparse, { ino, dev }, counter) };
    } else {
      throw new HostIoError(`${displayPath(absolute)}: file of unknown type (mode 0${stat.mode.toString(8)})`);
    }
  }
}

/** The file's bytes as a stream of exactly `size` bytes, opened when first read; refused if another file is there now. */
function fileContent(absolute: Buffer, size: number, sparse: boolean, identity: { ino: bigint; dev: bigint }, counter: ReadCounter): Readable {
  let fd = -1;
  let content: FileContent | undefined;
  return new Readable({
    highWaterMark: 1 << 20,
    read() {
      try {
        if (!content) {
          fd = openForReading(absolute);
          const opened = fstatSync(fd, { bigint: true });
          if (!opened.isFile() || opened.ino !== identity.ino || opened.dev !== identity.dev) throw new HostIoError(`${displayPath(absolute)}: file replaced while the tree was read`);
          content = new FileContent(fd, size, sparse);
          counter.files++;
        }
        if (content.left === 0) return void this.push(null);
        const chunk = Buffer.allocUnsafe(Math.min(content.left, 1 << 20));
        const count = content.fill(chunk);
        counter.bytes += count;
        this.push(chunk.subarray(0, count));
        if (content.left === 0) this.push(null);
      } catch (err) {
        this.destroy(err instanceof HostIoError ? err : (fromFsError(err, absolute) as Error));
      }
    },
    destroy(err, callback) {
      if (fd >= 0) closeSync(fd);
      fd = -1;
      callback(err);
    },
  });
}
