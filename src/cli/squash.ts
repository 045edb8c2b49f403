import { UsageError } from '../errors.js';
import { squashImage } from '../image/squash.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { addLayerCompressionFlags, layerCompression, sourceDateEpoch } from './options.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';
import { count } from '../text.js';

export const squashCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('squash <ref> [newref]', 'Merge an image\'s layers into one (whiteouts applied, hardlinks resolved); tags NEWREF, or REF again if it is a tag')
    .option('--from <n>', 'Merge only layers n and above (0 is the base layer); the layers below are kept as they are', { default: '0' });
  addLayerCompressionFlags(command)
    .example('rootfs squash app:1.0 app:1.0-flat')
    .example('rootfs squash app:1.0 --from 1')
    .action((ref: string, newref: string | undefined, opts) =>
      run(async (reporter) => {
        const { compression, level } = layerCompression(opts, reporter);
        const from = Number(opts.from);
        if (!Number.isInteger(from) || from < 0) throw new UsageError(`--from must be a layer index (0 or more), not '${String(opts.from)}'`);
        const newTags = newref === undefined ? undefined : [parseReference(newref)];
        const result = await withStore(opts, (store) =>
          squashImage(store, ref, {
            from,
            ...(newTags ? { tags: newTags } : {}),
            compression,
            level,
            created: sourceDateEpoch(),
            // Two passes: every layer is read to plan the merge, then the merged layer is written.
            onWarning: (message) => reporter.warnOnce(message),
            onLayer: (index, layers, entries) => reporter.progress({ label: `squash: read layer ${index + 1} of ${layers}`, entries }),
            onWrite: ({ entries, written }) => reporter.progress({ label: `squash: writing the merged layer (${compression})`, bytes: written, entries }),
          }),
        );
        const tags = result.tags;
        reporter.result(result.imageId);
        reporter.info(`${count(result.merged, 'layer')} merged into ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
        reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest, layer: result.layer, diffId: result.diffId, merged: result.merged });
      }, opts),
    );
};
