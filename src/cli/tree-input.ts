/**
 * The new tree a delta command reads: a directory (walked, contents read only
 * when needed) or a tarball (file or -, any compression). The one place that
 * tells them apart, so a directory reader can be swapped without touching
 * import, commit, diff or append.
 */
import { statSync } from 'node:fs';
import { fromFsError } from '../errors.js';
import { openTarInput } from '../image/import.js';
import { openInput } from '../io/input.js';
import { treeOrigin } from '../layers/capture.js';
import { tarMembers, type TreeMember } from '../layers/members.js';
import { directoryMembers, type ReadCounter } from '../pack/members.js';
import { loadPresets } from '../pack/presets.js';
import type { Store } from '../store/store.js';
import { asList } from './options.js';

export interface TreeInput {
  members: AsyncIterable<TreeMember> | Iterable<TreeMember>;
  /** A directory's file-content reads, for the summary. */
  read?: ReadCounter;
  /** A directory: which one (layers/capture.ts), for trusting its files against a capture of it. */
  origin?: string;
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

/** --preset and --exclude apply to a directory, as pack applies them; the store in use is left out of it. */
export async function openTree(path: string, opts: { preset?: unknown; exclude?: unknown }, store: Store): Promise<TreeInput> {
  if (pathKind(path) === 'directory') {
    const read: ReadCounter = { bytes: 0, files: 0 };
    const preset = loadPresets(asList(opts.preset));
    return { members: directoryMembers(path, { preset, exclude: asList(opts.exclude), skip: [store.identity()] }, read), read, origin: treeOrigin(path) };
  }
  const { stream } = await openInput(path, 'a tarball or directory', '');
  const where = path === '-' ? 'stdin' : path;
  const { tar } = await openTarInput(stream, where);
  return { members: tarMembers(tar, where) };
}
