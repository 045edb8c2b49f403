/** The flags that say what of a tree goes into a tar: `rootfs pack ROOT` and `rootfs import DIR` take the same ones. */
import type { Command } from 'cac';
import { UsageError } from '../errors.js';
import { readPatternFile } from '../pack/excludes.js';
import type { PackEvents, PackOptions } from '../pack/pack.js';
import { loadPresets } from '../pack/presets.js';
import { asList, sourceDateEpoch } from './options.js';
import type { Reporter } from './report.js';

export function addPackFlags(command: Command): Command {
  return command
    .option('--exclude <glob>', 'Leave out matching paths (repeatable; rooted at ROOT when the glob has a "/", else any name)')
    .option('--exclude-from <file>', 'Read exclude globs from FILE, one a line (repeatable)')
    .option('--no-default-excludes', 'Also pack the contents of /proc, /sys, /dev, /run, /tmp, ... (see docs/pack.md)')
    .option('--cross-mounts', 'Descend into other filesystems and bind mounts (default: keep their mount points, empty)')
    .option('--preset <name>', 'Exclusions and scrubbing from presets/NAME.json, or a preset file path (see rootfs presets); repeatable, the lists add up')
    .option('--selinux', 'Keep security.selinux labels (dropped by default)')
    .option('--mtime <time>', 'Clamp modification times to this (seconds since 1970 or an ISO date); default $SOURCE_DATE_EPOCH')
    .option('--strict', 'An unreadable file is an error, not a warning');
}

export function packOptions(opts: Record<string, unknown>): PackOptions {
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

/** True when any of addPackFlags's flags was given (they mean nothing for a tarball). */
export function packFlagsGiven(opts: Record<string, unknown>): boolean {
  return ['exclude', 'excludeFrom', 'crossMounts', 'preset', 'selinux', 'mtime', 'strict'].some((name) => opts[name] !== undefined && opts[name] !== false) || opts.defaultExcludes === false;
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
  };
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
