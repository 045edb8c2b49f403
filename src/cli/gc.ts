import { count } from '../text.js';
import type { CommandModule } from './command.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';
import { confirm } from './prompt.js';

export const gcCommand: CommandModule = (cli, run) => {
  cli
    .command('gc', 'Remove blobs no index.json entry reaches (tagged or <none>), temp files left by interrupted commands, and tree indexes of layer stacks no image has (waits for running commands)')
    .option('--dangling', 'First remove the images without a name (<none>), as docker image prune does, after asking [y/N] unless -f; rootfs image prune is gc --dangling')
    .option('-f, --force', 'With --dangling: do not ask first (as docker image prune -f)')
    .option('--no-wait', 'Fail with exit code 6 instead of waiting when other commands are using the store')
    .example('rootfs rmi old:1.0 && rootfs gc')
    .example('rootfs image prune -f')
    .action((opts) =>
      run(async (reporter) => {
        // Untagged images are images, gone for good, so docker asks first; unreachable blobs alone are not.
        if (opts.dangling && !opts.force && !(await confirm('This removes every image without a name (<none>). Continue?', 'removing the untagged images needs a yes; pass -f (there is no terminal to ask on)'))) {
          reporter.info('Nothing removed');
          reporter.emitJson({ removed: [], freedBytes: 0, tempFilesRemoved: 0, treeIndexesRemoved: 0, pruned: [] });
          return;
        }
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
        const indexes = result.treeIndexesRemoved > 0 ? `, ${count(result.treeIndexesRemoved, 'tree index')}` : '';
        reporter.result(`Total reclaimed space: ${formatBytes(result.freedBytes)} (${count(result.removed.length, 'blob')}, ${count(result.tempFilesRemoved, 'temp file')}${indexes})`);
        reporter.emitJson(opts.dangling ? { ...result, pruned } : result);
      }, opts),
    );
};
