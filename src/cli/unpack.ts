import { unpackImage } from '../image/unpack.js';
import type { CommandModule } from './command.js';
import { formatBytes, planProgress } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { count } from '../text.js';

export const unpackCommand: CommandModule = (cli, run) => {
  cli
    .command('unpack <ref> <dir>', 'Extract an image\'s root filesystem into DIR (empty or missing) with owners, modes, xattrs, devices and hardlinks')
    .option('--rootless', 'For a non-root user: leave files owned by you, skip device nodes and trusted./security. xattrs (each named in a warning)')
    .example('rootfs unpack base:latest /srv/chroot/base')
    .example('rootfs unpack --rootless base:latest ~/chroot')
    .action((ref: string, dir: string, opts) =>
      run(async (reporter) => {
        let total: number | undefined;
        const result = await withStoreReadOnly(opts, (store) =>
          unpackImage(store, ref, dir, {
            rootless: Boolean(opts.rootless),
            ...planProgress(reporter, 'unpack', 'unpacking', (planned) => (total = planned)),
            onProgress: (entries, bytes) => reporter.progress({ label: 'unpacking', bytes, total, entries }),
            onSkip: (path, what) => reporter.warn(`${path}: ${what}`),
            onWarning: (message) => reporter.warnOnce(message),
          }),
        );
        const { devices, xattrs } = result.skipped;
        const skipped = devices + xattrs > 0 ? ` (left out: ${count(devices, 'device node')}, ${count(xattrs, 'xattr')})` : '';
        reporter.info(`${count(result.entries, 'entry')}, ${formatBytes(result.bytes)} unpacked into ${dir}${skipped}`);
        reporter.emitJson({ dir, entries: result.entries, bytes: result.bytes, skipped: result.skipped });
      }, opts),
    );
};
