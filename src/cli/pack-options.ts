/**
 * The flags that say what of a tree goes into a tar: pack, import, commit,
 * diff and append take the same ones, for a directory or a tarball.
 */
import type { Command } from 'cac';
import { UsageError } from '../errors.js';
import { readPatternFile } from '../pack/excludes.js';
import type { TreeChoice } from '../image/tree-input.js';
import type { PackEvents } from '../pack/pack.js';
import type { TreeOptions } from '../pack/tree.js';
import { loadPresets } from '../pack/presets.js';
import { count } from '../text.js';
import type { GlobalOptions } from './command.js';
import { asList, sourceDateEpoch } from './options.js';
import type { Reporter } from './report.js';
import { storeSkip } from './store-option.js';

export function addPackFlags(command: Command): Command {
  return command
    .option('--exclude <glob>', 'Leave out matching paths, of a directory or a tarball\'s members (repeatable; rooted at ROOT when the glob has a "/", else any name)')
    .option('--exclude-from <file>', 'Read exclude globs from FILE, one a line (repeatable)')
    .option('--no-default-excludes', 'Also pack the contents of /proc, /sys, /dev, /run, /tmp, ... (see docs/pack.md)')
    .option('--cross-mounts', 'Descend into other filesystems and bind mounts (default: keep their mount points, empty, and name them); a directory only')
    .option('--preset <name>', 'Exclusions and scrubbing from presets/NAME.json, or a preset file path (see rootfs presets); repeatable, the lists add up')
    .option('--selinux', 'Keep security.selinux labels (dropped by default); a directory only')
    .option('--mtime <time>', 'Clamp modification times to this (seconds since 1970 or an ISO date); default $SOURCE_DATE_EPOCH')
    .option('--strict', 'An unreadable file is an error, not a warning (a compare always fails on one); a directory only');
}

/** pack's flags for a directory walk; the store the options name is left out, wherever it is. */
export function packOptions(opts: GlobalOptions & Record<string, unknown>): TreeOptions {
  return { ...treeOptions(opts), skip: [storeSkip(opts)] };
}

function treeOptions(opts: Record<string, unknown>): TreeOptions {
  return {
    exclude: [...asList(opts.exclude), ...asList(opts.excludeFrom).flatMap(readPatternFile)],
    defaultExcludes: opts.defaultExcludes !== false,
    oneFileSystem: !opts.crossMounts,
    preset: loadPresets(asList(opts.preset)),
    selinux: Boolean(opts.selinux),
    clampMtime: opts.mtime === undefined ? epochSeconds(sourceDateEpoch()) : parseTime(String(opts.mtime)),
    strict: Boolean(opts.strict),
  };
}

/** The flags that only a walk of a live directory can apply: the filesystems, labels and read errors of a host. */
const directoryFlags = { crossMounts: '--cross-mounts', selinux: '--selinux', strict: '--strict' } as const;

/**
 * pack's flags for a tree that arrives as a tar: the path rules and --mtime,
 * or undefined when none was given (the tar is then taken as it is). A flag
 * that only a directory walk can apply is refused, named.
 */
export function tarTreeOptions(opts: Record<string, unknown>, where: string): TreeOptions | undefined {
  for (const [key, flag] of Object.entries(directoryFlags)) {
    if (given(opts, key)) throw new UsageError(`${flag} applies to a directory walk, not to a tarball (${where})`);
  }
  return pathFlags.some((key) => given(opts, key)) ? treeOptions(opts) : undefined;
}

/** pack's flags for a tree that is a directory or a tarball, parsed once the library knows which (image/tree-input.ts). */
export function treeChoice(opts: GlobalOptions & Record<string, unknown>): TreeChoice {
  return { directory: () => packOptions(opts), tarball: (where) => tarTreeOptions(opts, where) };
}

/** The path rules and --mtime: what applies to a tree however it arrives. */
const pathFlags = ['exclude', 'excludeFrom', 'preset', 'mtime', 'defaultExcludes'];

/** True when any of addPackFlags's flags was given. */
export function packFlagsGiven(opts: Record<string, unknown>): boolean {
  return [...pathFlags, ...Object.keys(directoryFlags)].some((key) => given(opts, key));
}

/** cac gives a negated flag (--no-default-excludes) as false, a flag not given as undefined. */
function given(opts: Record<string, unknown>, key: string): boolean {
  return key === 'defaultExcludes' ? opts[key] === false : opts[key] !== undefined && opts[key] !== false;
}

/**
 * Warnings always, progress on a terminal: the tar written of what estimatePack
 * (pack/estimate.ts) expects, which a rootfs reading pack's stdout gets too.
 */
export function packEvents(reporter: Reporter, estimate: number | undefined, toStdout = false): PackEvents {
  return {
    warning: ({ path, message }) => reporter.warn(`${path}: ${message}`),
    progress: ({ entries, archiveBytes }) =>
      reporter.progress({ label: 'packing', bytes: archiveBytes, total: estimate, estimated: true, ...(toStdout && estimate !== undefined ? { toStdout: { total: estimate, estimated: true } } : {}), entries }),
    skipped: (path, note) => reporter.info(`${path}: ${note}`),
  };
}

/** Mount points a walk kept empty (without --cross-mounts): named, so nothing is left out unsaid. */
export function reportNotEntered(reporter: Reporter, mountPoints: readonly string[]): void {
  if (mountPoints.length === 0) return;
  reporter.notice(`${count(mountPoints.length, 'mount point')} not entered: ${mountPoints.join(' ')} (use --cross-mounts, or pack them separately)`);
}

function parseTime(text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`--mtime must be seconds since 1970 or an ISO 8601 date (2024-01-01T00:00:00Z), not '${text}'`);
  return Math.floor(ms / 1000);
}

function epochSeconds(date: Date | undefined): number | undefined {
  return date === undefined ? undefined : Math.floor(date.getTime() / 1000);
}
