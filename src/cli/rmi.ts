import type { CommandModule } from './command.js';
import { withStore } from './store-option.js';
import { removeImages } from '../store/remove.js';

export const rmiCommand: CommandModule = (cli, run) => {
  cli
    .command('rmi <...refs>', 'Remove images from the store: a name removes that tag; an ID removes the image if it has at most one name (all of them with -f). Blobs stay until rootfs gc')
    .option('-f, --force', 'An ID with several names removes all of them')
    .example('rootfs rmi base:latest')
    .example('rootfs rmi 0123456789ab')
    .example('rootfs rmi -f $(rootfs images -q)')
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        const { untagged, deleted } = await withStore(opts, (store) => removeImages(store, refs, { force: Boolean(opts.force) }));
        for (const name of untagged) reporter.result(`Untagged: ${name}`);
        for (const id of deleted) reporter.result(`Deleted: ${id}`);
        reporter.emitJson({ untagged, deleted });
      }, opts),
    );
};
