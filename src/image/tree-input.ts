/**
 * The tree a command reads (import, import/commit --base, diff, append, sbom):
 * a directory (pack's walk, contents read only when needed) or a tarball
 * (file or -, any compression). The one place that tells them apart and
 * applies the caller's tree options to either: a directory walk's to a
 * directory, the path rules to a tarball (TreeChoice).
 */
import { statSync } from 'node:fs';
import { fromFsError } from '../errors.js';
import { imageArchiveCheck, openTarInput } from './import.js';
import { openInput } from '../io/input.js';
import { treeOrigin } from '../layers/capture.js';
import { tarMembers, type TreeMember } from '../layers/members.js';
import { PathRules } from '../pack/excludes.js';
import { filterMembers } from '../pack/filter.js';
import { directoryMembers, type ReadCounter } from '../pack/members.js';
import { openRoot, TreeWalk, type TreeOptions } from '../pack/tree.js';

export interface TreeInput {
  members: AsyncIterable<TreeMember> | Iterable<TreeMember>;
  /** A directory's file-content reads, for the summary. */
  read?: ReadCounter;
  /** A directory: which one (layers/capture.ts), for trusting its files against a capture of it. */
  origin?: string;
  /** A directory's mount points kept empty (no --cross-mounts), filled in as the walk goes. */
  notEntered?: readonly string[];
  /** A tarball's compression, as its bytes say. */
  compression?: string;
}

/**
 * The caller's tree options, asked for once what the path is known: a
 * directory walk's, or a tarball's path rules (undefined: the tar is taken as
 * it is). Either may refuse what cannot apply (a walk's own flag on a tarball).
 */
export interface TreeChoice {
  directory(): TreeOptions;
  tarball(where: string): TreeOptions | undefined;
}

/** What is at `path` on this machine: a directory, something else (a tarball, a device, stdin), or nothing. */
export function pathKind(path: string): 'directory' | 'file' | 'none' {
  if (path === '-') return 'file';
  try {
    return statSync(path).isDirectory() ? 'directory' : 'file';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return 'none';
    throw fromFsError(err, path);
  }
}

/** `force`: take an image archive's files as a tree (import --force) instead of refusing it. */
export async function openTree(path: string, choice: TreeChoice, force = false): Promise<TreeInput> {
  if (pathKind(path) === 'directory') {
    const read: ReadCounter = { bytes: 0, files: 0 };
    const tree = new TreeWalk(openRoot(path), choice.directory());
    return { members: directoryMembers(tree, read), read, notEntered: tree.notEntered, origin: treeOrigin(path) };
  }
  const where = path === '-' ? 'stdin' : path;
  const options = choice.tarball(where);
  const { stream } = await openInput(path, 'a tarball or directory', '');
  const { tar, compression } = await openTarInput(stream, where);
  const members = force ? tarMembers(tar, where) : refusingImageArchives(tarMembers(tar, where), imageArchiveCheck(where, path));
  return { members: options ? filterMembers(members, new PathRules(options), { where, clampMtime: options.clampMtime }) : members, compression };
}

async function* refusingImageArchives(members: AsyncIterable<TreeMember>, check: (path: Buffer) => void): AsyncGenerator<TreeMember, void, undefined> {
  for await (const member of members) {
    check(member.entry.path);
    yield member;
  }
}
