import { pipeline } from 'node:stream/promises';
import { outputError, refuseTerminal, writeFileFromStream } from '../io/output.js';
import { flattenToTar } from '../layers/flatten.js';
import type { CommandModule } from './main.js';
import { withStoreReadOnly } from './store-option.js';

export const exportCommand: CommandModule = (cli, run) => {
  cli
    .command('export <ref>', 'Write an image\'s merged root filesystem as one plain tar (what import takes back)')
    .option('-o, --output <file>', 'Output file, - for stdout', { default: '-' })
    .example('rootfs export app:1.0 -o app-rootfs.tar')
    .example('rootfs export app:1.0 | tar -t')
    .action((ref: string, opts) =>
      run(async (reporter) => {
        const output = String(opts.output);
        if (output === '-') refuseTerminal('stdout', 'a tar');
        await withStoreReadOnly(opts, async (store) => {
          const image = await store.resolve(ref);
          const layers = image.manifest.layers;
          // Two passes: every layer is read to plan the merge, then the merged tree is written.
          const flatten = () =>
            flattenToTar(store, layers, {
              where: ref,
              onLayer: (index) => reporter.progress({ label: `export: read layer ${index + 1} of ${layers.length}`, note: 'planning the merge' }),
              onEntry: (entries, bytes) => reporter.progress({ label: 'export: writing', bytes, entries }),
            });
          if (output === '-') await pipeline(flatten(), process.stdout, { end: false }).catch(outputError('stdout'));
          else await writeFileFromStream(output, flatten);
        });
      }, opts),
    );
};
