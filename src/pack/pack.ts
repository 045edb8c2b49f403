/**
 * packTree: a tar of a live root filesystem, the way `tar --numeric-owner
 * --one-file-system --xattrs --xattrs-include='*' --sort=name -C ROOT .`
 * writes it, with the exclusions a base image needs. One pass over the tree,
 * one file open at a time, memory flat (one name list per depth level, plus
 * the hardlink groups not yet complete).
 *
 * Member names are relative to ROOT without "./" (as docker export writes
 * them), directories end in "/", and ROOT itself is not a member.
 */
import { closeSync, fstatSync, readlinkSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { displayPath, fromFsError, HostIoError } from '../errors.js';
import { viaShortPath } from '../io/long-path.js';
import type { EntryType, TarEntry } from '../tar/header.js';
import { TarWriter } from '../tar/writer.js';
import { deviceNumbers, mtimeSeconds, type EntryStat } from './entry.js';
import { changeWhileRead, FileContent, looksSparse, openForReading } from './content.js';
import { openRoot, TreeWalk, type TreeOptions } from './tree.js';
import type { WalkEntry } from './walk.js';

export type PackWarningKind = 'vanished' | 'changed' | 'shrank' | 'unreadable' | 'socket';

export interface PackWarning {
  kind: PackWarningKind;
  /** The host path, printable (non-UTF-8 bytes as \xNN). */
  path: string;
  /** What happened, GNU tar's wording where it has one ("file changed as we read it"). */
  message: string;
  /**
   * True when the archive is not a faithful copy of the tree as asked (a
   * file changed, vanished or could not be read); false for a socket, which
   * no tar can hold.
   */
  incomplete: boolean;
}

export interface PackProgress {
  entries: number;
  /** File content bytes stored so far. */
  bytes: number;
  /** Bytes of tar written so far, what an estimate (estimate.ts) is of. */
  archiveBytes: number;
}

/** How the library reports; it never prints. */
export interface PackEvents {
  warning?(warning: PackWarning): void;
  /** After every entry; throttle in the listener. */
  progress?(progress: PackProgress): void;
  /** A file of options.skip with a note was met and left out (the store in use, the archive itself). */
  skipped?(path: string, note: string): void;
}

export interface PackSummary {
  entries: Record<EntryType, number>;
  /** File content bytes stored. */
  bytes: number;
  /** Bytes of tar written, headers and padding included. */
  archiveBytes: number;
  /** Warnings with `incomplete` set: a caller's "completed with warnings" (GNU tar's exit 1). */
  warnings: number;
  /** Sockets left out. */
  socketsSkipped: number;
  /** Mount points kept empty (not --cross-mounts), as printable host paths. */
  mountPointsNotEntered: string[];
}

/** Writes a tar of the directory `root` to `output`, ending it; resolves once all of it is written. */
export async function packTree(root: string, output: Writable, options: TreeOptions = {}, events: PackEvents = {}): Promise<PackSummary> {
  const packer = new Packer(openRoot(root), options, events);
  // Room for a few staged chunks, so files are read while the last chunk drains into a pipe.
  const writer = new TarWriter({ highWaterMark: 1 << 20 });
  writer.on('data', (chunk: Buffer) => {
    packer.summary.archiveBytes += chunk.length;
  });
  const written = pipeline(writer, output);
  // Before the first entry, which may be a large file: a listener shows the job (and its total) at once.
  events.progress?.({ entries: 0, bytes: 0, archiveBytes: 0 });
  const work = packer.run(writer).catch((err: unknown) => {
    writer.destroy(err as Error);
    throw err;
  });
  await Promise.all([written, work]);
  return packer.summary;
}

/** The hardlink group of an inode whose first name is already stored. */
interface LinkGroup {
  path: Buffer;
  /** Names still to come; the group is forgotten at zero. */
  left: bigint;
}

class Packer {
  readonly summary: PackSummary = {
    entries: { file: 0, hardlink: 0, symlink: 0, chardev: 0, blockdev: 0, directory: 0, fifo: 0 },
    bytes: 0,
    archiveBytes: 0,
    warnings: 0,
    socketsSkipped: 0,
    mountPointsNotEntered: [],
  };
  private readonly tree: TreeWalk;
  private readonly links = new Map<string, LinkGroup>();
  private count = 0;

  constructor(
    root: ReturnType<typeof openRoot>,
    private readonly options: TreeOptions,
    private readonly events: PackEvents,
  ) {
    this.tree = new TreeWalk(root, options, {
      socket: (absolute) => {
        this.summary.socketsSkipped++;
        this.warn('socket', absolute, 'socket ignored', false);
      },
      skipped: (absolute, note) => events.skipped?.(displayPath(absolute), note),
    });
    this.summary.mountPointsNotEntered = this.tree.notEntered;
  }

  /**
   * A synchronous loop that waits only when the consumer is full or a large
   * file is read: a promise per entry cost more than the entry's syscalls.
   */
  async run(writer: TarWriter): Promise<void> {
    for (const item of this.tree.entries((path, err, during) => this.walkError(path, err, during))) {
      const reading = this.pack(item, writer);
      if (reading) await reading;
      this.count++;
      this.events.progress?.({ entries: this.count, bytes: this.summary.bytes, archiveBytes: this.summary.archiveBytes });
      if (writer.full) await writer.ready();
    }
    await writer.finish();
  }

  /** Stores the entry; returns a promise only when a file's body has to wait for the consumer. */
  private pack(item: WalkEntry, writer: TarWriter): Promise<void> | undefined {
    const { relative, stat } = item;
    const entry: TarEntry = {
      path: relative,
      type: 'file',
      mode: Number(stat.mode & 0o7777n),
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      size: 0,
      mtime: this.mtime(stat),
    };

    if (stat.isDirectory()) {
      entry.type = 'directory';
      entry.path = Buffer.concat([relative, Buffer.from('/')]);
      if (!this.readXattrs(item, entry)) return;
      this.store(writer, entry);
      return;
    }

    const linkKey = stat.nlink > 1n ? `${stat.dev}:${stat.ino}` : undefined;
    const group = linkKey === undefined ? undefined : this.links.get(linkKey);
    if (linkKey !== undefined && group) {
      entry.type = 'hardlink';
      entry.linkpath = group.path;
      if (--group.left === 0n) this.links.delete(linkKey);
      this.store(writer, entry);
      return;
    }

    if (!this.readXattrs(item, entry)) return;
    // Later names of this inode point at the first one actually stored.
    const stored = (): void => {
      if (linkKey !== undefined) this.links.set(linkKey, { path: relative, left: stat.nlink - 1n });
    };
    if (stat.isFile()) {
      const result = this.packFile(item, entry, writer);
      if (result === true) stored();
      else if (result !== false) return result.then((done) => (done ? stored() : undefined));
    } else if (this.describeSpecial(item, entry)) {
      this.store(writer, entry);
      stored();
    }
    return undefined;
  }

  /** Fills in a symlink, device or fifo entry; false when it vanished meanwhile. */
  private describeSpecial({ absolute, stat }: WalkEntry, entry: TarEntry): boolean {
    if (stat.isSymbolicLink()) {
      entry.type = 'symlink';
      try {
        entry.linkpath = viaShortPath(absolute, (path) => readlinkSync(path, { encoding: 'buffer' }));
      } catch (err) {
        return this.hostError(absolute, err);
      }
    } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
      entry.type = stat.isCharacterDevice() ? 'chardev' : 'blockdev';
      Object.assign(entry, deviceNumbers(stat.rdev));
    } else if (stat.isFIFO()) {
      entry.type = 'fifo';
    } else {
      throw new HostIoError(`${displayPath(absolute)}: file of unknown type (mode 0${stat.mode.toString(8)})`);
    }
    return true;
  }

  /**
   * Stores a regular file; false when it was skipped (vanished, unreadable,
   * replaced). The body is read straight into the writer's staging space;
   * once the consumer is full, the rest is read between waits for it.
   */
  private packFile({ absolute, stat }: WalkEntry, entry: TarEntry, writer: TarWriter): boolean | Promise<boolean> {
    if (this.tree.rules.truncated(entry.path)) {
      this.store(writer, entry);
      return true;
    }
    let fd: number;
    try {
      fd = openForReading(absolute);
    } catch (err) {
      return this.hostError(absolute, err);
    }
    let closeNow = true;
    try {
      const opened = fstatSync(fd, { bigint: true });
      if (!opened.isFile() || opened.ino !== stat.ino || opened.dev !== stat.dev) {
        this.warn('changed', absolute, 'file replaced before we read it; not stored', true);
        return false;
      }
      entry.size = Number(stat.size);
      const content = new FileContent(fd, entry.size, looksSparse(stat));
      this.store(writer, entry);
      this.copyContent(content, writer, absolute);
      if (content.left === 0) {
        this.checkUnchanged(fd, absolute, stat);
        return true;
      }
      closeNow = false;
      return this.copyLargeContent(content, writer, absolute)
        .then(() => {
          this.checkUnchanged(fd, absolute, stat);
          return true;
        })
        .finally(() => closeSync(fd));
    } finally {
      if (closeNow) closeSync(fd);
    }
  }

  /** Copies file bytes into the writer until the body is complete or the consumer is full. */
  private copyContent(content: FileContent, writer: TarWriter, absolute: Buffer): void {
    while (content.left > 0 && !writer.full) {
      const space = writer.bodySpace();
      let count: number;
      try {
        count = content.fill(space);
      } catch (err) {
        // Read errors in the middle of a file name the file (the output's own errors pass as they are).
        throw fromFsError(err, absolute);
      }
      writer.bodyFilled(count);
    }
  }

  private async copyLargeContent(content: FileContent, writer: TarWriter, absolute: Buffer): Promise<void> {
    while (content.left > 0) {
      await writer.ready();
      this.copyContent(content, writer, absolute);
    }
  }

  private checkUnchanged(fd: number, absolute: Buffer, stat: EntryStat): void {
    const change = changeWhileRead(fd, stat);
    if (change === 'changed') this.warn('changed', absolute, 'file changed as we read it', true);
    else if (change) this.warn('shrank', absolute, `file shrank by ${change.shrankBy} bytes; padding with zeros`, true);
  }

  private store(writer: TarWriter, entry: TarEntry): void {
    writer.writeHeader(entry);
    this.summary.entries[entry.type]++;
    this.summary.bytes += entry.size;
  }

  /** Adds the entry's extended attributes; false when the file vanished meanwhile. */
  private readXattrs(item: WalkEntry, entry: TarEntry): boolean {
    try {
      const xattrs = item.xattrs();
      if (xattrs) entry.xattrs = xattrs;
    } catch (err) {
      return this.hostError(item.absolute, err);
    }
    return true;
  }

  private mtime(stat: EntryStat): number {
    return mtimeSeconds(stat, this.options.clampMtime);
  }

  private walkError(absolute: Buffer, err: NodeJS.ErrnoException, during: 'lstat' | 'readdir'): void {
    if (during === 'readdir' && err.code === 'ENOTDIR') this.warn('changed', absolute, 'directory replaced while we read it', true);
    else if (during === 'readdir' && (err.code === 'EACCES' || err.code === 'EPERM') && !this.options.strict) {
      this.warn('unreadable', absolute, 'permission denied; directory stored without its contents', true);
    } else this.hostError(absolute, err);
  }

  /**
   * The live-host failures a pack survives: a file gone since it was listed
   * (warning), one we may not read (warning, or an error with --strict).
   * Anything else is thrown. Always false: the entry is not stored.
   */
  private hostError(absolute: Buffer, err: unknown): false {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') this.warn('vanished', absolute, 'file removed before we read it', true);
    else if (code === 'ELOOP') this.warn('changed', absolute, 'file replaced by a symlink before we read it; not stored', true);
    else if ((code === 'EACCES' || code === 'EPERM') && !this.options.strict) this.warn('unreadable', absolute, 'permission denied; not stored', true);
    else throw fromFsError(err, absolute);
    return false;
  }

  private warn(kind: PackWarningKind, absolute: Buffer, message: string, incomplete: boolean): void {
    if (incomplete) this.summary.warnings++;
    this.events.warning?.({ kind, path: displayPath(absolute), message, incomplete });
  }
}
