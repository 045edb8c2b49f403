import { printable } from '../errors.js';
import { diffTrees, type TreeDifference } from '../image/diff.js';
import { imageMembers } from '../layers/members.js';
import type { CommandModule } from './command.js';
import { formatBytes } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { openTree, pathKind } from './tree-input.js';
import { resolveImage } from '../store/resolve.js';

const kindCode = { C: 0, A: 1, D: 2 } as const;

export const diffCommand: CommandModule = (cli, run) => {
  cli
    .command('diff <a> <b>', "What changed from image A to B (an image, a directory or a tarball), as docker diff: A added, C changed, D deleted")
    .option('--stat', 'Counts and bytes of what was added, changed and deleted instead of the list')
    .option('--checksum', "Read and hash every file of a directory B whose metadata matches, not only those changed since A's capture (docs/incremental.md)")
    .option('--preset <name>', 'For a directory B: leave out what the preset leaves out (repeatable)')
    .option('--exclude <glob>', 'For a directory B: leave out matching paths (repeatable)')
    .example('rootfs diff host:v1 host:v2')
    .example('rootfs diff host:v1 / --preset centos --stat')
    .action((a: string, b: string, opts) =>
      run(async (reporter) => {
        const differences: TreeDifference[] = [];
        await withStoreReadOnly(opts, async (store) => {
          const image = await resolveImage(store, a);
          // B names an image unless it is a path on this machine (as docker's PATH|IMAGE arguments).
          const useImage = pathKind(b) === 'none';
          const { members, origin } = useImage ? { members: imageMembers(store, (await resolveImage(store, b)).manifest.layers, b), origin: undefined } : await openTree(b, opts, store);
          for await (const difference of diffTrees(store, image, a, members, { where: b, checksum: Boolean(opts.checksum), origin })) differences.push(difference);
        });
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
          return;
        }
        reporter.emitJson(differences.map(({ kind, path, size }) => ({ Path: path, Kind: kindCode[kind], kind, size })));
        for (const { kind, path } of differences) reporter.result(`${kind} ${printable(path)}`);
      }, opts),
    );
};
