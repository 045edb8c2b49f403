import { basename, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { openInput } from '../io/input.js';
import { splitToParts } from '../split/index.js';
import { readSigningKey, removePartManifestSignatures, signPartManifest } from '../trust/index.js';
import { passphrase } from './prompt.js';
import type { CommandModule } from './command.js';
import { formatBytes, formatExactBytes, parseSize, sizePresets, sizeSyntax } from './size.js';
import { count } from '../text.js';

const minPartSize = 1024 ** 2;

export const splitCommand: CommandModule = (cli, run) => {
  cli
    .command('split <file>', 'Cut a file (- for stdin) into numbered parts plus a checksum manifest, for removable media; one summary line on stderr (--json: the manifest)')
    .option('-s, --size <size>', `Largest part, at least 1MiB: 64M, 4G, 700MiB, 4.7GB (${sizeSyntax}), or ${Object.keys(sizePresets).join(', ')}`)
    .option('--force', 'Allow parts smaller than 1MiB')
    .option('-o, --output <dir>', 'Directory for the parts (created if missing)', { default: '.' })
    .option('--sign <key>', 'Sign the part manifest with this private key: NAME.parts.json.sigstore.json for a PEM key, NAME.parts.json.sig (SSHSIG, what ssh-keygen -Y verify checks) for an OpenSSH key')
    .option('--parity <percent>', 'Also write PAR2 recovery data, this percent of the data (as par2 create -r): NAME.par2 and NAME.volE+C.par2, listed in the manifest; verify, join, load and copy rebuild damaged or missing parts from it, and so does par2 repair')
    .option('--name <name>', 'Base name of the parts (default: the file name; for - the name of the -o directory, else "stdin")')
    .example('rootfs split images.tar --size fat32 -o /media/usb')
    .example('rootfs save base:latest | rootfs split - --name base.tar --size dvd -o parts/')
    .action((file: string, opts) =>
      run(async (reporter) => {
        if (opts.size === undefined || opts.size === true) throw new UsageError('--size is required (for example --size 4G or --size fat32)');
        // A size with no unit is bytes: --size 100 once made a million parts.
        const partSize = parseSize(String(opts.size), '--size', { presets: true, min: opts.force ? 1 : minPartSize, belowMin: 'use --force for smaller parts' });
        const parity = opts.parity !== undefined ? parityPercent(opts.parity) : undefined;
        const dir = String(opts.output);
        const name = opts.name !== undefined ? String(opts.name) : file !== '-' ? basename(file) : dir !== '.' ? basename(resolve(dir)) : 'stdin';
        // The key is read (and its passphrase asked) before the long part: a wrong one fails at once.
        const key = typeof opts.sign === 'string' ? await readSigningKey(opts.sign, passphrase(opts.sign)) : undefined;
        if (opts.sign !== undefined && key === undefined) throw new UsageError('--sign needs a private key file');
        const { stream: input, size } = await openInput(file, 'the data', 'split takes one file (pack or save it first)');
        const result = await splitToParts(input, {
          source: file === '-' ? 'stdin' : file,
          dir,
          name,
          partSize,
          expectedSize: size,
          onProgress: (bytes) => reporter.progress({ label: `splitting ${name}`, bytes, total: size }),
          ...(parity !== undefined ? { parity, onParityProgress: (bytes: number, total: number) => reporter.progress({ label: `parity for ${name}`, bytes, total }) } : {}),
        });
        const { manifest } = result;
        const signature = key ? await signPartManifest(result.manifestPath, key) : undefined;
        if (!key) await removePartManifestSignatures(result.manifestPath);
        if (result.removed.length > 0) reporter.info(`removed stale parts of an older set: ${result.removed.join(', ')}`);
        // One summary line, not a line per part (GNU split prints none); --json lists them.
        const written = [basename(result.manifestPath), ...(signature ? [basename(signature)] : [])].join(' and ');
        const recovery = result.parity ? ` and ${count(result.parity.recoverySlices, 'recovery slice')} of ${formatBytes(result.parity.sliceSize)} in ${count(result.parity.names.length, 'PAR2 file')}` : '';
        reporter.info(`${name}: ${formatBytes(manifest.size)} in ${count(manifest.parts.length, 'part')} of at most ${formatExactBytes(partSize)}${recovery} in ${dir}, listed in ${written}; check them with: rootfs verify ${dir}${key ? ' --key PUBLIC-KEY' : ''}`);
        reporter.emitJson({ manifest: result.manifestPath, ...manifest, removed: result.removed, ...(signature ? { signature } : {}) });
      }, opts),
    );
};

/** --parity PCT as par2 create -r reads it: a percentage of the data, above 0 and at most 100. */
function parityPercent(value: unknown): number {
  const text = String(value).trim();
  const percent = /^\d+(\.\d+)?%?$/.test(text) ? Number.parseFloat(text) : Number.NaN;
  if (!(percent > 0 && percent <= 100)) throw new UsageError(`--parity ${JSON.stringify(value === true ? '' : text)}: give a percentage of the data above 0 and at most 100, such as --parity 10`);
  return percent;
}
