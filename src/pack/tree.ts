/**
 * A live directory tree as pack and the compare both read it: one walk, one
 * set of path rules (PathRules), the same flags. pack (pack.ts) writes what
 * it yields as a tar; directoryMembers (members.ts) turns it into tree
 * members for import/commit --base, diff and append. Whatever decides
 * whether a path is in the tree lives here, so the two cannot drift.
 */
import { lstatSync, realpathSync, type BigIntStats } from 'node:fs';
import { displayPath, fromFsError, UsageError } from '../errors.js';
import type { FileIdentity } from '../io/output.js';
import { PathRules, type PathRuleOptions } from './excludes.js';
import { readMountPoints } from './mounts.js';
import { walkTree, type WalkEntry, type WalkError } from './walk.js';

/**
 * A file or directory never read into the tree, whatever its name: by
 * identity, or by absolute path for one that may appear during the walk (a
 * store the other end of a pipe is about to create).
 */
export interface SkippedFile {
  identity?: FileIdentity;
  path?: Buffer;
  /** Why, as the user should hear it ("the store in use; not packed"). */
  note?: string;
}

export interface TreeOptions extends PathRuleOptions {
  /** Do not descend into other filesystems or bind mounts; their mount points are kept empty (default true). */
  oneFileSystem?: boolean;
  /** Keep security.selinux labels (default: dropped, as umoci does; a host's label means nothing in an image). */
  selinux?: boolean;
  /** Seconds since the epoch: newer mtimes are stored as this (--mtime, SOURCE_DATE_EPOCH). */
  clampMtime?: number;
  /** Unreadable files and directories are an error instead of a warning (pack; the compare always fails on them). */
  strict?: boolean;
  /** Files and directories left out by identity: the archive being written, the store in use. */
  skip?: SkippedFile[];
}

/** What the walk met and left out, for the caller to say. */
export interface TreeWalkEvents {
  /** A socket: no tar can hold one. */
  socket?(absolute: Buffer): void;
  /** A file of options.skip that carries a note. */
  skipped?(absolute: Buffer, note: string): void;
}

/** A root directory, resolved: its real path and its lstat. */
export function openRoot(root: string): { path: Buffer; stat: BigIntStats } {
  let path: Buffer;
  let stat: BigIntStats;
  try {
    path = realpathSync(root, { encoding: 'buffer' });
    stat = lstatSync(path, { bigint: true });
  } catch (err) {
    throw fromFsError(err, root);
  }
  if (!stat.isDirectory()) throw new UsageError(`${root}: not a directory (a tree source is the root directory of a filesystem tree)`);
  return { path, stat };
}

/**
 * The entries of a tree that belong in it, in walk order: excluded paths,
 * options.skip and sockets left out (not descended into), emptied
 * directories and mount points (with oneFileSystem) kept without their
 * contents. The mount points not entered are listed in `notEntered`.
 */
export class TreeWalk {
  readonly rules: PathRules;
  /** Mount points kept empty because of oneFileSystem, as printable host paths, in walk order. */
  readonly notEntered: string[] = [];
  private readonly mountPoints: Set<string>;

  constructor(
    readonly root: { path: Buffer; stat: BigIntStats },
    readonly options: TreeOptions,
    private readonly events: TreeWalkEvents = {},
  ) {
    this.rules = new PathRules(options);
    this.mountPoints = options.oneFileSystem === false ? new Set() : readMountPoints();
  }

  *entries(onError: WalkError): Generator<WalkEntry, void, undefined> {
    for (const item of walkTree(this.root.path, onError, this.options.selinux === true)) {
      const { relative, absolute, stat } = item;
      if (this.rules.excluded(relative)) {
        item.descend = false;
        continue;
      }
      const skipped = this.options.skip?.find(({ identity, path }) => (identity ? identity.dev === stat.dev && identity.ino === stat.ino : path?.equals(absolute)));
      if (skipped) {
        item.descend = false;
        if (skipped.note !== undefined) this.events.skipped?.(absolute, skipped.note);
        continue;
      }
      if (stat.isSocket()) {
        this.events.socket?.(absolute);
        continue;
      }
      if (stat.isDirectory()) item.descend = this.descendInto(item);
      yield item;
    }
  }

  private descendInto({ relative, absolute, stat }: WalkEntry): boolean {
    if (this.rules.emptied(relative)) return false;
    if (this.options.oneFileSystem === false) return true;
    if (stat.dev === this.root.stat.dev && !this.mountPoints.has(absolute.toString('latin1'))) return true;
    this.notEntered.push(displayPath(absolute));
    return false;
  }
}
