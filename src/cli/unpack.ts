import { unpackImage } from '../image/unpack.js';
import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { withStoreReadOnly } from './store-option.js';

export const unpackCommand: CommandModule = (cli, run) => {
  cli
    .command('unpack <ref> <dir>', 'Extract an image\'s root filesystem into DIR (empty or missing) with owners, modes, xattrs, devices and hardlinks')
    .example('rootfs unpack base:latest /srv/chroot/base')
    .action((ref: string, dir: string, opts) =>
      run(async (reporter) => {
        const result = await withStoreReadOnly(opts, (store) =>
          unpackImage(store, ref, dir, (entries, bytes) => reporter.progress(() => `unpacking: ${entries} entries, ${formatBytes(bytes)}`)),
        );
        reporter.info(`${result.entries} entries, ${formatBytes(result.bytes)} unpacked into ${dir}`);
        reporter.emitJson({ dir, entries: result.entries, bytes: result.bytes });
      }, opts),
    );
};
