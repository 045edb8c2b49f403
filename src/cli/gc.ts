import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';

export const gcCommand: CommandModule = (cli, run) => {
  cli
    .command('gc', 'Remove blobs no tag refers to and temp files left by interrupted commands (waits for running commands)')
    .example('rootfs rmi old:1.0 && rootfs gc')
    .action((opts) =>
      run(async (reporter) => {
        const result = await withStore(opts, (store) => store.gc());
        for (const digest of result.removed) reporter.result(`deleted: ${digest}`);
        reporter.result(`Total reclaimed space: ${formatBytes(result.freedBytes)} (${result.removed.length} blobs, ${result.tempFilesRemoved} temp files)`);
        reporter.emitJson(result);
      }, opts),
    );
};
