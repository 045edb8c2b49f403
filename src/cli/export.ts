import { refuseTerminal } from '../io/output.js';
import { exportImage } from '../image/export.js';
import { count } from '../text.js';
import type { CommandModule } from './command.js';
import { formatBytes, planProgress } from './report.js';
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
        let total: number | undefined;
        const result = await withStoreReadOnly(opts, (store) =>
          exportImage(store, ref, output === '-' ? { stream: process.stdout, name: 'stdout' } : output, {
            onWarning: (message) => reporter.warnOnce(message),
            ...planProgress(reporter, 'export', 'export: writing', (planned) => (total = planned)),
            onEntry: (entries, written) => reporter.progress({ label: 'export: writing', bytes: written, total, entries }),
          }),
        );
        reporter.info(`Exported ${ref} (${count(result.layers, 'layer')} merged) to ${output === '-' ? 'stdout' : output}: ${formatBytes(result.bytes)} of tar`);
        // With the tar on stdout, the JSON summary goes to stderr instead (as pack does).
        reporter.emitJson({ image: ref, id: result.id, output, layers: result.layers, bytes: result.bytes }, output === '-' ? 'stderr' : 'stdout');
      }, opts),
    );
};
