import { UsageError } from '../errors.js';
import { squashImage } from '../image/squash.js';
import { familiarName, parseReference, type ImageReference } from '../oci/reference.js';
import type { CommandModule } from './main.js';
import { addLayerCompressionFlags, layerCompression, sourceDateEpoch } from './options.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';

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
        const tags = newref === undefined ? retag(ref) : [parseReference(newref)];
        const result = await withStore(opts, (store) =>
          squashImage(store, ref, {
            from,
            tags,
            compression,
            level,
            created: sourceDateEpoch(),
            onLayer: (index, entries) => reporter.progress(() => `squash: indexed layer ${index + 1} (${entries} entries)`),
          }),
        );
        reporter.result(result.imageId);
        reporter.info(`${result.merged} layers merged into ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
        reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest, layer: result.layer, diffId: result.diffId, merged: result.merged });
      }, opts),
    );
};

/** Without NEWREF the squashed image takes REF's tag, if REF is one (not an ID or a digest). */
function retag(ref: string): ImageReference[] {
  if (/^(?:sha256:)?[a-f0-9]{4,64}$/.test(ref)) return [];
  const parsed = parseReference(ref);
  return parsed.digest === undefined ? [parsed] : [];
}
