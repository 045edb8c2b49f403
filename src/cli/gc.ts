import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';

export const gcCommand: CommandModule = (cli, run) => {
  cli
    .command('gc', 'Remove blobs no tag refers to and temp files left by interrupted commands (waits for running commands)')
    .option('--no-wait', 'Fail with exit code 6 instead of waiting when other commands are using the store')
    .example('rootfs rmi old:1.0 && rootfs gc')
    .action((opts) =>
      run(async (reporter) => {
        const result = await withStore(opts, (store) =>
          store.gc({
            wait: opts.wait !== false,
            onWait: () => reporter.info(`waiting for the other rootfs commands using ${store.dir} to finish (--no-wait fails instead)`),
          }),
        );
        for (const digest of result.removed) reporter.result(`deleted: ${digest}`);
        reporter.result(`Total reclaimed space: ${formatBytes(result.freedBytes)} (${result.removed.length} blobs, ${result.tempFilesRemoved} temp files)`);
        reporter.emitJson(result);
      }, opts),
    );
};
