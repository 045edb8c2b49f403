import { resolve } from 'node:path';
import { collectHave, formatHave } from '../transports/omitted-layers.js';
import { writeOutputFile } from '../io/output.js';
import type { CommandModule } from './command.js';
import { withStoreReadOnly } from './store-option.js';
import { count } from '../text.js';

export const haveCommand: CommandModule = (cli, run) => {
  cli
    .command('have', 'Write what the store holds (blob digests, tags and their layers) for `save --exclude-have` on another host')
    .option('-o, --output <file>', 'Output file, - for stdout', { default: '-' })
    .example('rootfs have -o /media/usb/have.json')
    .action((opts) =>
      run(async (reporter) => {
        const { document, skipped } = await withStoreReadOnly(opts, collectHave);
        for (const { name, reason } of skipped) reporter.warn(`${name} left out of images: ${reason}`);
        const text = formatHave(document);
        const output = String(opts.output);
        // On stdout, the have document is the result, JSON already, with or without --json.
        if (output === '-') process.stdout.write(text);
        else {
          const target = resolve(output);
          await writeOutputFile(target, text);
          reporter.info(`${output}: ${count(document.blobs.length, 'blob')}, ${count(document.images.length, 'image')}`);
          reporter.emitJson({ output: target, blobs: document.blobs.length, images: document.images.length });
        }
        return reporter.warnings > 0 ? 1 : 0;
      }, opts),
    );
};
