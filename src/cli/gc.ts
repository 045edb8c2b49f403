import { count } from '../text.js';
import type { CommandModule } from './command.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';

export const gcCommand: CommandModule = (cli, run) => {
  cli
    .command('gc', 'Remove blobs no index.json entry reaches (tagged or <none>) and temp files left by interrupted commands (waits for running commands)')
    .option('--dangling', 'First remove the images without a name (<none>), as docker image prune does; rootfs image prune is gc --dangling')
    .option('-f, --force', 'Accepted for docker image prune -f: gc never asks')
    .option('--no-wait', 'Fail with exit code 6 instead of waiting when other commands are using the store')
    .example('rootfs rmi old:1.0 && rootfs gc')
    .example('rootfs image prune')
    .action((opts) =>
      run(async (reporter) => {
        const { pruned, result } = await withStore(opts, async (store) => {
          const pruned = opts.dangling ? await store.removeUntagged() : [];
          const result = await store.gc({
            wait: opts.wait !== false,
            onWait: () => reporter.info(`waiting for the other rootfs commands using ${store.dir} to finish (--no-wait fails instead)`),
          });
          return { pruned: pruned.map((entry) => entry.descriptor.digest), result };
        });
        for (const digest of pruned) reporter.result(`untagged image removed: ${digest}`);
        for (const digest of result.removed) reporter.result(`deleted: ${digest}`);
        reporter.result(`Total reclaimed space: ${formatBytes(result.freedBytes)} (${count(result.removed.length, 'blob')}, ${count(result.tempFilesRemoved, 'temp file')})`);
        reporter.emitJson(opts.dangling ? { ...result, pruned } : result);
      }, opts),
    );
};
