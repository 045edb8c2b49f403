/**
 * Which paths under ROOT a pack leaves out. Paths are matched as latin1
 * strings of their raw bytes, and patterns are turned into the same form, so
 * a non-UTF-8 name never breaks matching and a UTF-8 pattern matches the
 * bytes it spells (a `?` matches one byte, not one character).
 */
import picomatch from 'picomatch';
import { fromFsError, UsageError } from '../errors.js';
import { readMetadataSync } from '../io/metadata.js';
import type { Preset } from './presets.js';

/**
 * Directories of a live root whose contents are kernel or runtime state, or
 * another system's storage: packed as empty directories, with their modes.
 */
export const DEFAULT_EMPTIED_DIRS: readonly string[] = [
  'proc',
  'sys',
  'dev',
  'run',
  'tmp',
  'var/tmp',
  'mnt',
  'media',
  'lost+found',
  'var/lib/docker',
  'var/lib/containerd',
  'var/lib/containers',
  // Our own store as root uses it: `rootfs pack / | rootfs import -` must not pack the blob import is writing.
  'var/lib/rootfs',
];

/** A test on a path relative to ROOT (no leading or trailing slash), as raw bytes. */
export type PathMatcher = (relative: Buffer) => boolean;

/**
 * Compiles exclude globs (picomatch syntax, dotfiles included). A pattern
 * with a slash is rooted at ROOT (a leading "/" or "./" is optional); one
 * without matches a name at any depth, as GNU tar's --exclude does. A
 * matched directory goes with everything under it, so `var/cache/*` keeps
 * var/cache itself and drops its contents while `var/cache` drops both.
 */
export function compileGlobs(patterns: readonly string[]): PathMatcher {
  const rooted: string[] = [];
  const anywhere: string[] = [];
  for (const pattern of patterns) {
    const trimmed = pattern.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
    if (trimmed === '') throw new UsageError(`exclude pattern ${JSON.stringify(pattern)} matches nothing (to pack nothing, pack an empty directory)`);
    (pattern.replace(/\/+$/, '').includes('/') ? rooted : anywhere).push(Buffer.from(trimmed).toString('latin1'));
  }
  const options = { dot: true };
  const matchRooted = rooted.length > 0 ? picomatch(rooted, options) : null;
  const matchAnywhere = anywhere.length > 0 ? picomatch(anywhere, options) : null;
  if (!matchRooted && !matchAnywhere) return () => false;
  return (relative) => {
    const key = relative.toString('latin1');
    if (matchRooted?.(key)) return true;
    return Boolean(matchAnywhere?.(key.slice(key.lastIndexOf('/') + 1)));
  };
}

/** What decides which paths of a tree go into a layer, whatever holds the tree. */
export interface PathRuleOptions {
  /** Exclude globs (syntax in compileGlobs), on top of the preset's. */
  exclude?: string[];
  /** Keep DEFAULT_EMPTIED_DIRS as empty directories (default true). */
  defaultExcludes?: boolean;
  preset?: Preset;
}

/**
 * The path rules of every tree source (a directory walk, a tar stream or
 * file): the preset's exclude and truncate globs, --exclude, and the
 * directories kept empty. One object, so a tree gives the same layer
 * whichever way it arrives.
 */
export class PathRules {
  /** This path and everything under it is left out. */
  readonly excluded: PathMatcher;
  /** A file kept with no content. */
  readonly truncated: PathMatcher;
  private readonly emptiedDirs: Set<string>;

  constructor(options: PathRuleOptions) {
    this.excluded = compileGlobs([...(options.preset?.exclude ?? []), ...(options.exclude ?? [])]);
    this.truncated = compileGlobs(options.preset?.truncate ?? []);
    this.emptiedDirs = new Set(options.defaultExcludes === false ? [] : DEFAULT_EMPTIED_DIRS.map((dir) => Buffer.from(dir).toString('latin1')));
  }

  /** A directory kept, its contents left out. */
  emptied(relative: Buffer): boolean {
    return this.emptiedDirs.has(relative.toString('latin1'));
  }

  /**
   * Whether a path is left out of the tree: it or a directory above it is
   * excluded, or it lies under an emptied directory. For sources that list
   * paths rather than walk them (a tar); a walk asks as it descends.
   */
  leavesOut(relative: Buffer): boolean {
    if (this.excluded(relative)) return true;
    const slash = relative.lastIndexOf(0x2f);
    if (slash <= 0) return false;
    // A tar lists a directory's members together: its verdict is asked again and again.
    const parent = relative.subarray(0, slash);
    if (!this.lastParent?.equals(parent)) {
      const verdict = this.emptied(parent) || this.leavesOut(parent);
      this.lastParent = Buffer.from(parent);
      this.lastParentLeavesOut = verdict;
    }
    return this.lastParentLeavesOut;
  }

  private lastParent: Buffer | undefined;
  private lastParentLeavesOut = false;
}

/** Patterns from an --exclude-from file: one a line; blank lines and lines starting with # are ignored. */
export function readPatternFile(file: string): string[] {
  let text: string;
  try {
    text = readMetadataSync(file, 'patternFile', 'a pattern file').toString('utf8');
  } catch (err) {
    throw fromFsError(err, file);
  }
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
}
