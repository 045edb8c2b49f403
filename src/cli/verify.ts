import { InvalidInputError } from '../errors.js';
import { verifyPartSet } from '../split/index.js';
import type { CommandModule } from './command.js';
import { formatBytes } from './report.js';
import { count } from '../text.js';

export const verifyCommand: CommandModule = (cli, run) => {
  cli
    .command('verify <dir>', 'Check every part of a split set (DIR or its .parts.json) against its manifest; exit 3 naming the bad or missing parts')
    .example('rootfs verify /media/usb')
    .example('rootfs verify /media/usb --json')
    .action((dir: string, opts) =>
      run(async (reporter) => {
        const result = await verifyPartSet(dir, (bytes, total) => reporter.progress({ label: 'verifying', bytes, total }));
        reporter.emitJson(result);
        const bad = result.parts.filter((part) => part.status !== 'ok');
        if (bad.length > 0) {
          const named = bad.map((part) => `${part.name} (${part.status === 'sha256' ? 'sha256 mismatch' : part.status === 'size' ? 'wrong size' : 'missing'})`);
          throw new InvalidInputError(result.manifestPath, `${bad.length} of ${count(result.parts.length, 'part')} bad: ${named.join(', ')}`);
        }
        if (result.whole !== 'ok') throw new InvalidInputError(result.manifestPath, `every part matches but the whole file's sha256 does not: the manifest is inconsistent`);
        reporter.result(`${result.name}: OK (${count(result.parts.length, 'part')}, ${formatBytes(result.size)})`);
      }, opts),
    );
};
