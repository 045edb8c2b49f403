import { UsageError } from '../errors.js';
import type { CommandModule } from './command.js';
import { addLayerCompressionFlags } from './options.js';
import { addTreeFlags, captureEvents, captureOptions, reportCapture } from './capture.js';
import { importImage, openDeltaSource } from '../image/import-source.js';
import { treeChoice } from './pack-options.js';
import { withStore } from './store-option.js';
import { addSbomFlag } from './sbom.js';

export const commitCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('commit <dir> [ref]', "A new image from a modified copy of an image's tree (from rootfs unpack): its changes as one layer on the base, as docker commit")
    .option('--base <ref>', 'The image DIR was unpacked from (required)')
    .option('-c, --change <instruction>', 'Apply a Dockerfile instruction to the config (repeatable; as docker commit -c)')
    .option('-m, --message <text>', 'History comment for the new layer')
    .option('--platform <os/arch[/variant]>', "Platform recorded in the image (default: the base's)");
  addLayerCompressionFlags(addTreeFlags(addSbomFlag(command)))
    .example('rootfs unpack app:1.0 /srv/app && vi /srv/app/etc/app.conf && rootfs commit /srv/app app:1.1 --base app:1.0')
    .action((dir: string, ref: string | undefined, opts) =>
      run(async (reporter) => {
        if (opts.base === undefined) throw new UsageError('commit needs --base REF: the image DIR was unpacked from');
        const options = captureOptions(reporter, opts, ref, 'commit');
        const source = await openDeltaSource(dir, String(opts.base), treeChoice(opts));
        const result = await withStore(opts, (store) => importImage(store, source, options, captureEvents(reporter, source)));
        return reportCapture(reporter, result, options.compression);
      }, opts),
    );
};
