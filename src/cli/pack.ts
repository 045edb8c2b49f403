import { closeSync, createWriteStream, type BigIntStats, fstatSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ExitCode, fromFsError, UsageError } from '../errors.js';
import { readPatternFile } from '../pack/excludes.js';
import { packTree, type FileIdentity, type PackEvents, type PackOptions, type PackSummary } from '../pack/pack.js';
import { loadPreset } from '../pack/presets.js';
import type { EntryType } from '../tar/header.js';
import { fsyncDir, tempName } from '../store/fs.js';
import type { CommandModule } from './main.js';
import { asList, sourceDateEpoch } from './options.js';
import { formatBytes, type Reporter } from './report.js';

export const packCommand: CommandModule = (cli, run) => {
  cli
    .command('pack <root>', 'Write a tar of a live root filesystem (exit 1: completed with warnings)')
    .option('-o, --output <file>', 'Output file, - for stdout', { default: '-' })
    .option('--exclude <glob>', 'Leave out matching paths (repeatable; rooted at ROOT when the glob has a "/", else any name)')
    .option('--exclude-from <file>', 'Read exclude globs from FILE, one a line (repeatable)')
    .option('--no-default-excludes', 'Also pack the contents of /proc, /sys, /dev, /run, /tmp, ... (see docs/pack.md)')
    .option('--cross-mounts', 'Descend into other filesystems and bind mounts (default: keep their mount points, empty)')
    .option('--preset <name>', 'Exclusions and scrubbing from presets/NAME.json, or a preset file path (see rootfs presets)')
    .option('--selinux', 'Keep security.selinux labels (dropped by default)')
    .option('--mtime <time>', 'Clamp modification times to this (seconds since 1970 or an ISO date); default $SOURCE_DATE_EPOCH')
    .option('--strict', 'An unreadable file is an error, not a warning')
    .example('rootfs pack / -o host.tar')
    .example('rootfs pack /srv/chroot --preset debian --mtime 2024-01-01T00:00:00Z | rootfs import - base:12')
    .action((root: string, opts) =>
      run(async (reporter) => {
        const output = String(opts.output);
        const options: PackOptions = {
          exclude: [...asList(opts.exclude), ...asList(opts.excludeFrom).flatMap(readPatternFile)],
          defaultExcludes: opts.defaultExcludes !== false,
          oneFileSystem: !opts.crossMounts,
          preset: opts.preset === undefined ? undefined : loadPreset(String(opts.preset)),
          selinux: Boolean(opts.selinux),
          clampMtime: opts.mtime === undefined ? epochSeconds(sourceDateEpoch()) : parseTime(String(opts.mtime)),
          strict: Boolean(opts.strict),
        };
        const started = Date.now();
        const events: PackEvents = {
          warning: ({ path, message }) => reporter.warn(`${path}: ${message}`),
          progress: ({ entries, bytes }) =>
            reporter.progress(() => `packing: ${entries} entries, ${formatBytes(bytes)}, ${formatBytes((bytes * 1000) / Math.max(1, Date.now() - started))}/s`),
        };
        const summary = output === '-' ? await packToStdout(root, options, events) : await packToFile(root, output, options, events);
        report(reporter, summary, root, output);
        return summary.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
      }, opts),
    );
};

async function packToStdout(root: string, options: PackOptions, events: PackEvents): Promise<PackSummary> {
  if (process.stdout.isTTY) throw new UsageError('refusing to write archive contents to a terminal (use -o FILE or redirect stdout)');
  // `rootfs pack / > /host.tar` must not pack /host.tar into itself.
  const stdout = fstatSync(1, { bigint: true });
  const skip = stdout.isFile() ? [{ dev: stdout.dev, ino: stdout.ino }] : [];
  return packTree(root, process.stdout, { ...options, skip }, events).catch(outputError('stdout'));
}

/** Packs into FILE.tmp-…, fsyncs and renames it into place: a failed pack leaves FILE as it was. */
async function packToFile(root: string, file: string, options: PackOptions, events: PackEvents): Promise<PackSummary> {
  const target = resolve(file);
  const skip: FileIdentity[] = [];
  let existing: BigIntStats | undefined;
  try {
    existing = statSync(target, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, file);
  }
  if (existing?.isDirectory()) throw new UsageError(`${file} is a directory; give a file name`);
  // A device or fifo (/dev/null, a tape, a named pipe) is written in place: there is nothing to rename.
  if (existing && !existing.isFile()) return packTree(root, createWriteStream(target, { flags: 'w' }), options, events).catch(outputError(file));
  if (existing) skip.push({ dev: existing.dev, ino: existing.ino }); // the archive a previous run left there
  const temp = tempName(dirname(target), `${basename(target)}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, 'wx', 0o644);
  } catch (err) {
    throw fromFsError(err, dirname(file));
  }
  let closed = false;
  try {
    const own = fstatSync(fd, { bigint: true });
    skip.push({ dev: own.dev, ino: own.ino });
    const stream = createWriteStream('', { fd, autoClose: false });
    const summary = await packTree(root, stream, { ...options, skip }, events).catch(outputError(temp));
    try {
      fsyncSync(fd);
      closeSync(fd);
      closed = true;
      renameSync(temp, target);
    } catch (err) {
      throw fromFsError(err, file);
    }
    await fsyncDir(dirname(target));
    return summary;
  } finally {
    if (!closed) {
      closeSync(fd);
      rmSync(temp, { force: true });
    }
  }
}

/** Errors writing the archive name the output file (the library cannot tell them from its own). */
function outputError(file: string): (err: unknown) => never {
  return (err) => {
    throw (err as NodeJS.ErrnoException).syscall === 'write' ? fromFsError(err, file) : err;
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

const plurals: Record<EntryType, string> = {
  file: 'files',
  hardlink: 'hardlinks',
  symlink: 'symlinks',
  chardev: 'chardevs',
  blockdev: 'blockdevs',
  directory: 'directories',
  fifo: 'fifos',
};

function report(reporter: Reporter, summary: PackSummary, root: string, output: string): void {
  const counts = Object.entries(summary.entries)
    .filter(([, count]) => count > 0)
    .map(([type, count]) => `${count} ${count === 1 ? type : plurals[type as EntryType]}`);
  const total = Object.values(summary.entries).reduce((a, b) => a + b, 0);
  const warnings = summary.warnings > 0 ? `; completed with ${summary.warnings} warning${summary.warnings === 1 ? '' : 's'}` : '';
  const sockets = summary.socketsSkipped > 0 ? `; ${summary.socketsSkipped} socket${summary.socketsSkipped === 1 ? '' : 's'} ignored` : '';
  reporter.info(`Packed ${root}: ${total} entries (${counts.join(', ') || 'none'}), ${formatBytes(summary.bytes)} of file data, ${formatBytes(summary.archiveBytes)} of tar${sockets}${warnings}`);
  const document = { root, output, ...summary };
  // With the archive on stdout, the JSON summary goes to stderr instead.
  if (output === '-') {
    if (reporter.json) process.stderr.write(`${JSON.stringify(document, null, 2)}\n`);
  } else reporter.emitJson(document);
}
