import { unpackImage } from '../image/unpack.js';
import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';
import { count } from '../text.js';

export const unpackCommand: CommandModule = (cli, run) => {
  cli
    .command('unpack <ref> <dir>', 'Extract an image\'s root filesystem into DIR (empty or missing) with owners, modes, xattrs, devices and hardlinks')
    .example('rootfs unpack base:latest /srv/chroot/base')
    .action((ref: string, dir: string, opts) =>
      run(async (reporter) => {
        const result = await withStore(opts, (store) =>
          unpackImage(store, ref, dir, (entries, bytes) => reporter.progress(() => `unpacking: ${entries} entries, ${formatBytes(bytes)}`)),
        );
        reporter.info(`${count(result.entries, 'entry')}, ${formatBytes(result.bytes)} unpacked into ${dir}`);
        reporter.emitJson({ dir, entries: result.entries, bytes: result.bytes });
      }, opts),
    );
};
