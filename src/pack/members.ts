/**
 * A directory tree as a stream of members for compare (import/commit
 * --base, diff, append): pack's walk and metadata, with file content opened
 * only when a member's content is asked for, so an unchanged file is never
 * read. Stays on one filesystem, leaves out sockets, and applies a preset's
 * and --exclude's globs as pack does.
 */
import { closeSync, fstatSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { Readable } from 'node:stream';
import { displayPath, fromFsError, HostIoError, UsageError } from '../errors.js';
import type { FileIdentity } from '../io/output.js';
import type { TreeMember } from '../layers/members.js';
import type { TarEntry } from '../tar/header.js';
import { FileContent, looksSparse, openForReading } from './content.js';
import { deviceNumbers, mtimeSeconds } from './entry.js';
import { compileGlobs, DEFAULT_EMPTIED_DIRS } from './excludes.js';
import type { Preset } from './presets.js';
import { walkTree } from './walk.js';

export interface DirectoryOptions {
  preset?: Preset;
  exclude?: string[];
  selinux?: boolean;
  /** Read DEFAULT_EMPTIED_DIRS as empty directories, as pack does (default true). */
  defaultExcludes?: boolean;
  /** Files and directories left out whatever their name: the store in use, as import DIR leaves it out. */
  skip?: FileIdentity[];
}

/** Counts what was read of file contents: the proof that an unchanged tree costs metadata only. */
export interface ReadCounter {
  bytes: number;
  files: number;
}

export function* directoryMembers(root: string, options: DirectoryOptions = {}, counter: ReadCounter = { bytes: 0, files: 0 }): Generator<TreeMember, void, undefined> {
  let rootPath: Buffer;
  try {
    rootPath = realpathSync(root, { encoding: 'buffer' });
  } catch (err) {
    throw fromFsError(err, root);
  }
  const rootStat = lstatSync(rootPath, { bigint: true });
  if (!rootStat.isDirectory()) throw new UsageError(`${root}: not a directory`);
  const excluded = compileGlobs([...(options.preset?.exclude ?? []), ...(options.exclude ?? [])]);
  const truncated = compileGlobs(options.preset?.truncate ?? []);
  const emptied = new Set(options.defaultExcludes === false ? [] : DEFAULT_EMPTIED_DIRS);
  const firstNames = new Map<string, { path: Buffer; left: bigint }>();
  const fail = (absolute: Buffer, err: unknown): never => {
    throw fromFsError(err, absolute);
  };
  for (const item of walkTree(rootPath, (absolute, err) => fail(absolute, err), options.selinux === true)) {
    const { relative, absolute, stat } = item;
    if (excluded(relative) || stat.isSocket() || options.skip?.some((file) => file.dev === stat.dev && file.ino === stat.ino)) {
      item.descend = false;
      continue;
    }
    const entry: TarEntry = { path: relative, type: 'file', mode: Number(stat.mode & 0o7777n), uid: Number(stat.uid), gid: Number(stat.gid), size: 0, mtime: mtimeSeconds(stat) };
    const xattrs = item.xattrs();
    if (xattrs) entry.xattrs = xattrs;
    if (stat.isDirectory()) {
      entry.type = 'directory';
      item.descend = stat.dev === rootStat.dev && !emptied.has(relative.toString('latin1'));
      yield { entry };
    } else if (stat.isSymbolicLink()) {
      entry.type = 'symlink';
      entry.linkpath = readlinkSync(absolute, { encoding: 'buffer' });
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
      if (truncated(relative)) {
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
