import { pipeline } from 'node:stream/promises';
import { outputError, refuseTerminal, writeFileFromStream } from '../io/output.js';
import { flattenToTar } from '../layers/flatten.js';
import { count } from '../text.js';
import type { CommandModule } from './command.js';
import { formatBytes, planProgress } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { resolveImage } from '../store/resolve.js';

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
        const summary = await withStoreReadOnly(opts, async (store) => {
          const image = await resolveImage(store, ref);
          const layers = image.manifest.layers;
          let bytes = 0;
          let total: number | undefined;
          // Two passes: every layer is read to plan the merge, then the merged tree is written.
          async function* flatten(): AsyncGenerator<Buffer> {
            const tar = flattenToTar(store, layers, {
              where: ref,
              onWarning: (message) => reporter.warnOnce(message),
              ...planProgress(reporter, 'export', 'export: writing', (planned) => (total = planned)),
              onEntry: (entries, written) => reporter.progress({ label: 'export: writing', bytes: written, total, entries }),
            });
            for await (const chunk of tar as AsyncIterable<Buffer>) {
              bytes += chunk.length;
              yield chunk;
            }
          }
          if (output === '-') await pipeline(flatten(), process.stdout, { end: false }).catch(outputError('stdout'));
          else await writeFileFromStream(output, flatten);
          return { image: ref, id: image.manifest.config.digest, output, layers: image.manifest.layers.length, bytes };
        });
        reporter.info(`Exported ${ref} (${count(summary.layers, 'layer')} merged) to ${output === '-' ? 'stdout' : output}: ${formatBytes(summary.bytes)} of tar`);
        // With the tar on stdout, the JSON summary goes to stderr instead (as pack does).
        reporter.emitJson(summary, output === '-' ? 'stderr' : 'stdout');
      }, opts),
    );
};
