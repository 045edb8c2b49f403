import { ExitCode, UsageError } from '../errors.js';
import { outputError, refuseTerminal } from '../io/output.js';
import { joinPartSet } from '../split/index.js';
import { readTrustedKeys, signatureNotChecked, signedBy } from './trust-options.js';
import type { CommandModule } from './command.js';
import { formatBytes } from './report.js';

export const joinCommand: CommandModule = (cli, run) => {
  cli
    .command('join <dir>', 'Rebuild a file from the parts split wrote (DIR or its .parts.json), checking every part and the whole; bad parts the set\'s parity can rebuild are rebuilt as read, without writing to DIR (a warning, exit 1)')
    .option('-o, --output <file>', 'Output file (written whole or not at all), - for stdout')
    .option('--require-signed <keys>', 'Refuse the set unless its manifest is signed by one of these public keys (comma-separated files), checked before any part is read')
    .example('rootfs join /media/usb -o images.tar')
    .example('rootfs join /media/usb --require-signed site-a.pub -o images.tar')
    .example('rootfs join parts/ -o - | rootfs load')
    .action((dir: string, opts) =>
      run(async (reporter) => {
        if (opts.output === undefined || opts.output === true) throw new UsageError('-o FILE is required (or -o - for stdout)');
        const output = String(opts.output);
        if (output === '-') refuseTerminal('stdout', 'the joined file');
        const keys = opts.requireSigned !== undefined ? await readTrustedKeys(opts.requireSigned, '--require-signed') : undefined;
        let bytes = 0;
        // A part rebuilt from the parity: the file is whole and verified, the media are not (exit 1, as load's warnings).
        let repaired = false;
        await joinPartSet(dir, output === '-' ? process.stdout : output, (done, total) => {
          bytes = done;
          reporter.progress({ label: 'joining', bytes: done, total, ...(output === '-' ? { toStdout: { total, estimated: false } } : {}) });
        }, keys ? signedBy(keys, reporter) : signatureNotChecked(reporter, '--require-signed'), {
          onProgress: (what, done, total) => reporter.progress({ label: what, bytes: done, total }),
          onRepaired: (message) => {
            repaired = true;
            reporter.warn(message);
          },
        }).catch(outputError(output === '-' ? 'stdout' : output));
        reporter.info(`${output === '-' ? 'stdout' : output}: ${formatBytes(bytes)}, every part and the whole file's sha256 verified`);
        reporter.emitJson({ parts: dir, output, bytes, repaired }, output === '-' ? 'stderr' : 'stdout');
        return repaired ? ExitCode.Warnings : ExitCode.Ok;
      }, opts),
    );
};
