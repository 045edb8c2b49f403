import { fstatSync } from 'node:fs';
import { ExitCode } from '../errors.js';
import { createFileOutput, outputError, refuseTerminal, type FileIdentity } from '../io/output.js';
import { estimatePack } from '../pack/estimate.js';
import { packTree, type PackEvents, type PackSummary } from '../pack/pack.js';
import type { SkippedFile, TreeOptions } from '../pack/tree.js';
import type { CommandModule } from './command.js';
import { addPackFlags, packEvents, packOptions, reportNotEntered } from './pack-options.js';
import { formatBytes, type Reporter } from './report.js';
import { count } from '../text.js';

export const packCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('pack <root>', 'Write a tar of a live root filesystem (exit 1: completed with warnings)')
    .option('-o, --output <file>', 'Output file, - for stdout', { default: '-' });
  addPackFlags(command)
    .example('rootfs pack / -o host.tar')
    .example('rootfs pack /srv/chroot --preset debian --mtime 2024-01-01T00:00:00Z | rootfs import - base:12')
    .action((root: string, opts) =>
      run(async (reporter) => {
        const output = String(opts.output);
        const options = packOptions(opts);
        const events = packEvents(reporter, estimatePack(root, options), output === '-');
        const summary = output === '-' ? await packToStdout(root, options, events) : await packToFile(root, output, options, events);
        report(reporter, summary, root, output);
        return summary.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
      }, opts),
    );
};

async function packToStdout(root: string, options: TreeOptions, events: PackEvents): Promise<PackSummary> {
  refuseTerminal('stdout', 'archive contents');
  // `rootfs pack / > /host.tar` must not pack /host.tar into itself.
  const stdout = fstatSync(1, { bigint: true });
  const skip = stdout.isFile() ? [theArchive({ dev: stdout.dev, ino: stdout.ino })] : [];
  return packTree(root, process.stdout, { ...options, skip: [...(options.skip ?? []), ...skip] }, events).catch(outputError('stdout'));
}

/** Packs through a temp file renamed into place: a failed pack leaves FILE as it was. */
async function packToFile(root: string, file: string, options: TreeOptions, events: PackEvents): Promise<PackSummary> {
  const output = await createFileOutput(file);
  try {
    // Neither the archive being written nor the one it replaces goes into itself.
    const summary = await packTree(root, output.stream, { ...options, skip: [...(options.skip ?? []), ...output.identities.map((identity, i) => (i === 0 ? { identity, note: `the archive being written to ${file}; not dumped` } : theArchive(identity)))] }, events);
    await output.commit();
    return summary;
  } finally {
    await output.abort();
  }
}

/** The archive being written (or the one it replaces), met under ROOT: left out as GNU tar leaves it out, and said the same way. */
function theArchive(identity: FileIdentity): SkippedFile {
  return { identity, note: 'file is the archive; not dumped' };
}

function report(reporter: Reporter, summary: PackSummary, root: string, output: string): void {
  const counts = Object.entries(summary.entries)
    .filter(([, count]) => count > 0)
    .map(([type, n]) => count(n, type));
  const total = Object.values(summary.entries).reduce((a, b) => a + b, 0);
  const warnings = summary.warnings > 0 ? `; completed with ${count(summary.warnings, 'warning')}` : '';
  const sockets = summary.socketsSkipped > 0 ? `; ${count(summary.socketsSkipped, 'socket')} ignored` : '';
  reportNotEntered(reporter, summary.mountPointsNotEntered);
  reporter.info(`Packed ${root}: ${count(total, 'entry')} (${counts.join(', ') || 'none'}), ${formatBytes(summary.bytes)} of file data, ${formatBytes(summary.archiveBytes)} of tar${sockets}${warnings}`);
  const document = { root, output, ...summary };
  // With the archive on stdout, the JSON summary goes to stderr instead.
  reporter.emitJson(document, output === '-' ? 'stderr' : 'stdout');
}
