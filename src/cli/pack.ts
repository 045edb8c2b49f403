import { ExitCode } from '../errors.js';
import { refuseTerminal } from '../io/output.js';
import { estimatePack } from '../pack/estimate.js';
import { packTo } from '../pack/output.js';
import type { PackSummary } from '../pack/pack.js';
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
        if (output === '-') refuseTerminal('stdout', 'archive contents');
        const summary = await packTo(root, output === '-' ? { stream: process.stdout, name: 'stdout', fd: 1 } : output, options, events);
        report(reporter, summary, root, output);
        return summary.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
      }, opts),
    );
};

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
