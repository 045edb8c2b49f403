import { count } from '../text.js';
import { rebaseImage } from '../image/rebase.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { sourceDateEpoch } from './options.js';
import { withStore } from './store-option.js';
import { UsageError } from '../errors.js';

export const rebaseCommand: CommandModule = (cli, run) => {
  cli
    .command('rebase <ref> [newref]', "Put an image's own layers on a new base, as crane rebase (refused unless its lower layers are the old base's; nothing written when the new base has the same layers)")
    .option('--old-base <ref>', 'The base REF was built on (default: its org.opencontainers.image.base.* annotations)')
    .option('--new-base <ref>', 'The base to put it on (required)')
    .example('rootfs rebase app:1.0 --old-base centos:7.8 --new-base centos:7.9 app:1.0-c79')
    .action((ref: string, newref: string | undefined, opts) =>
      run(async (reporter) => {
        if (opts.newBase === undefined) throw new UsageError('rebase needs --new-base REF');
        const newTags = newref === undefined ? undefined : [parseReference(newref)];
        const result = await withStore(opts, (store) =>
          rebaseImage(store, ref, { oldBase: opts.oldBase === undefined ? undefined : String(opts.oldBase), newBase: String(opts.newBase), ...(newTags ? { tags: newTags } : {}), created: sourceDateEpoch() }),
        );
        const tags = result.tags;
        reporter.result(result.imageId);
        if (result.unchanged) reporter.info(`${ref} is already on ${String(opts.newBase)} (its ${count(result.kept, 'own layer')} on the same base layers): nothing written`);
        else reporter.info(`${count(result.replaced, 'layer')} of ${result.oldBase} replaced by ${String(opts.newBase)}'s; ${result.kept} kept${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
        reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest, oldBase: result.oldBase, newBase: String(opts.newBase), replaced: result.replaced, kept: result.kept, unchanged: result.unchanged });
      }, opts),
    );
};
