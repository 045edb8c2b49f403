import { printable, UsageError } from '../errors.js';
import { diffImage, diffImagePackages, diffStat } from '../image/diff.js';
import type { CommandModule } from './command.js';
import { formatBytes, type Reporter } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { addTreeFlags } from './capture.js';
import { packFlagsGiven, reportNotEntered, treeChoice } from './pack-options.js';

const kindCode = { C: 0, A: 1, D: 2 } as const;

export const diffCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('diff <a> <b>', "What changed from image A to B (an image, a directory or a tarball), as docker diff: A added, C changed, D deleted; pack's flags apply to a directory or tarball B")
    .option('--stat', 'Counts and bytes of what was added, changed and deleted instead of the list')
    .option('--packages', 'The packages added (A), changed (C: another version) and removed (D), from each tree\'s package databases (docs/sbom.md)');
  addTreeFlags(command)
    .example('rootfs diff host:v1 host:v2')
    .example('rootfs diff host:v1 / --preset centos --stat')
    .action((a: string, b: string, opts) =>
      run(async (reporter) => {
        if (opts.packages) return packageDifferences(reporter, a, b, opts);
        const { differences, notEntered } = await withStoreReadOnly(opts, (store) => diffImage(store, a, b, { tree: treeChoice(opts), treeOptionsGiven: packFlagsGiven(opts), checksum: Boolean(opts.checksum), onNotice: (message) => reporter.notice(message) }));
        reportNotEntered(reporter, notEntered);
        if (opts.stat) {
          const stat = diffStat(differences);
          reporter.emitJson(stat);
          reporter.result(`${stat.added} added (${formatBytes(stat.addedBytes)}), ${stat.changed} changed (${formatBytes(stat.changedBytes)}), ${stat.deleted} deleted (${formatBytes(stat.deletedBytes)})`);
          return 0;
        }
        reporter.emitJson(differences.map(({ kind, path, size }) => ({ Path: path, Kind: kindCode[kind], kind, size })));
        for (const { kind, path } of differences) reporter.result(`${kind} ${printable(path)}`);
        return 0;
      }, opts),
    );
};

/** diff --packages: the two trees' package databases, compared. */
async function packageDifferences(reporter: Reporter, a: string, b: string, opts: Parameters<typeof treeChoice>[0] & { stat?: unknown; checksum?: unknown }): Promise<number> {
  if (opts.stat || opts.checksum) throw new UsageError('--packages lists packages: --stat and --checksum compare files');
  const { changes, warnings } = await withStoreReadOnly(opts, (store) => diffImagePackages(store, a, b, treeChoice(opts)));
  for (const warning of warnings) reporter.warn(warning);
  reporter.emitJson(changes);
  for (const change of changes) {
    const arch = change.arch ? `:${change.arch}` : '';
    reporter.result(`${change.kind} ${change.name}${arch} ${change.kind === 'C' ? `${change.from} -> ${change.to}` : (change.to ?? change.from)}`);
  }
  return reporter.warnings > 0 ? 1 : 0;
}
