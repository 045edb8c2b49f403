import { appendLayer, openAppendInput } from '../image/append.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { addLayerCompressionFlags, layerCompression, sourceDateEpoch } from './options.js';
import { addPackFlags, reportNotEntered, treeChoice } from './pack-options.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';

export const appendCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('append <ref> <source> [newref]', 'Add a layer on top of an image, as crane append: a tarball (- for stdin) as it is, or a directory')
    .option('-m, --message <text>', 'History comment for the new layer');
  addPackFlags(addLayerCompressionFlags(command))
    .example('rootfs append app:1.0 overlay.tar app:1.0-patched')
    .example('rootfs append app:1.0 ./extra-files')
    .action((ref: string, source: string, newref: string | undefined, opts) =>
      run(async (reporter) => {
        const { compression, level } = layerCompression(opts, reporter);
        const newTags = newref === undefined ? undefined : [parseReference(newref)];
        const where = source === '-' ? 'stdin' : source;
        const input = await openAppendInput(source, treeChoice(opts));
        const result = await withStore(opts, (store) =>
          appendLayer(store, ref, input, {
            source: where,
            ...(newTags ? { tags: newTags } : {}),
            compression,
            level,
            message: opts.message === undefined ? undefined : String(opts.message),
            created: sourceDateEpoch(),
          }),
        );
        if ('notEntered' in input) reportNotEntered(reporter, input.notEntered ?? []);
        const tags = result.tags;
        reporter.result(result.imageId);
        reporter.info(`layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression}) added to ${ref}${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
        reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest, layer: result.layer, diffId: result.diffId });
      }, opts),
    );
};
