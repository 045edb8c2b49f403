import { printable, UsageError } from '../errors.js';
import { diffTrees, type TreeDifference } from '../image/diff.js';
import { inventoryOfTree } from '../sbom/collect.js';
import { diffPackages } from '../sbom/diff.js';
import { imageInventory } from '../sbom/image.js';
import { imageMembers } from '../layers/members.js';
import type { CommandModule, GlobalOptions } from './command.js';
import { formatBytes, type Reporter } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { openTree, pathKind } from './tree-input.js';
import { addTreeFlags } from './delta-command.js';
import { packFlagsGiven, reportNotEntered } from './pack-options.js';
import { resolveImage } from '../store/resolve.js';

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
        const differences: TreeDifference[] = [];
        let notEntered: readonly string[] = [];
        await withStoreReadOnly(opts, async (store) => {
          const image = await resolveImage(store, a);
          // B names an image unless it is a path on this machine (as docker's PATH|IMAGE arguments).
          const useImage = pathKind(b) === 'none';
          if (useImage && packFlagsGiven(opts)) throw new UsageError(`${b} is an image: pack's flags (--preset, --exclude, …) apply to a directory or tarball B`);
          const tree = useImage ? undefined : await openTree(b, opts);
          const members = tree ? tree.members : imageMembers(store, (await resolveImage(store, b)).manifest.layers, b);
          for await (const difference of diffTrees(store, image, a, members, { where: b, checksum: Boolean(opts.checksum), origin: tree?.origin, onWarning: (message) => reporter.notice(message) })) differences.push(difference);
          notEntered = tree?.notEntered ?? [];
        });
        reportNotEntered(reporter, notEntered);
        differences.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
        if (opts.stat) {
          const stat = { added: 0, changed: 0, deleted: 0, addedBytes: 0, changedBytes: 0, deletedBytes: 0 };
          for (const { kind, size } of differences) {
            const key = kind === 'A' ? 'added' : kind === 'C' ? 'changed' : 'deleted';
            stat[key]++;
            stat[`${key}Bytes`] += size;
          }
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
async function packageDifferences(reporter: Reporter, a: string, b: string, opts: Parameters<typeof openTree>[1] & GlobalOptions & { stat?: unknown; checksum?: unknown }): Promise<number> {
  if (opts.stat || opts.checksum) throw new UsageError('--packages lists packages: --stat and --checksum compare files');
  const [before, after] = await withStoreReadOnly(opts, async (store) => {
    const first = await imageInventory(store, await resolveImage(store, a), a);
    const second = pathKind(b) === 'none' ? await imageInventory(store, await resolveImage(store, b), b) : await inventoryOfTree((await openTree(b, opts)).members);
    return [first, second];
  });
  for (const warning of [...before.warnings, ...after.warnings]) reporter.warn(warning);
  const changes = diffPackages(before, after);
  reporter.emitJson(changes);
  for (const change of changes) {
    const arch = change.arch ? `:${change.arch}` : '';
    reporter.result(`${change.kind} ${change.name}${arch} ${change.kind === 'C' ? `${change.from} -> ${change.to}` : (change.to ?? change.from)}`);
  }
  return reporter.warnings > 0 ? 1 : 0;
}
