import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { UsageError, printable } from '../errors.js';
import { keyTypes, writeKeyPair, type KeyType } from '../trust/index.js';
import type { CommandModule } from './command.js';
import { passphrase } from './prompt.js';

export const keygenCommand: CommandModule = (cli, run) => {
  cli
    .command('keygen', 'Make a signing key pair: PREFIX.key (PKCS#8 PEM, mode 0600, encrypted when a passphrase is given) and PREFIX.pub (give this one to the receiving site)')
    .option('-o, --output-key-prefix <prefix>', 'Write PREFIX.key and PREFIX.pub', { default: 'rootfs' })
    .option('--type <type>', `Key type: ${keyTypes.join(' or ')}`, { default: 'ecdsa-p256' })
    .option('--force', 'Replace an existing key pair of that name')
    .example('rootfs keygen -o site-a')
    .example('ROOTFS_KEY_PASSWORD=secret rootfs keygen --type ed25519 -o release')
    .action((opts) =>
      run(async (reporter) => {
        const type = String(opts.type) as KeyType;
        if (!keyTypes.includes(type)) throw new UsageError(`--type ${type}: not a key type; use ${keyTypes.join(' or ')}`);
        const prefix = await keyPrefix(opts.outputKeyPrefix);
        // An empty passphrase is none: the key is written unencrypted, as the user chose.
        const secret = await passphrase(`${prefix}.key`, { confirm: true })();
        const { privatePath, publicPath } = await writeKeyPair(prefix, type, secret || undefined, Boolean(opts.force));
        reporter.info(`Private key written to ${privatePath}${secret ? ' (encrypted)' : ' (not encrypted: set ROOTFS_KEY_PASSWORD, or run on a terminal, to give it a passphrase)'}`);
        reporter.info(`Public key written to ${publicPath}`);
        reporter.emitJson({ type, privateKey: privatePath, publicKey: publicPath, encrypted: Boolean(secret) });
      }, opts),
    );
};

/**
 * -o PREFIX names two files, PREFIX.key and PREFIX.pub: a name that cannot
 * be one is refused rather than guessed at. cac reads an option value that
 * looks like a number as one (`-o ''` comes out as 0, `-o 007` as 7), so a
 * number is refused too: what was typed is lost.
 */
async function keyPrefix(value: unknown): Promise<string> {
  const refuse = (why: string): never => {
    throw new UsageError(`-o ${why}; give a file name prefix, as -o site-a (writes site-a.key and site-a.pub)`);
  };
  if (typeof value === 'number') return refuse('needs a file name prefix: an empty or all-digit -o is read as a number, which could name the wrong file');
  if (typeof value !== 'string' || value === '') return refuse('needs a file name prefix');
  const shown = `"${printable(value)}"`;
  if (printable(value) !== value) return refuse(`${shown}: control characters in the name`);
  if (value.endsWith('/') || ['.', '..'].includes(basename(value))) return refuse(`${shown}: a directory, not a file name`);
  const isDirectory = await stat(value).then((info) => info.isDirectory(), () => false);
  if (isDirectory) return refuse(`${shown}: a directory, not a file name`);
  return value;
}
