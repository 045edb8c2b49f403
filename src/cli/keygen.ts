import { UsageError } from '../errors.js';
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
        const prefix = String(opts.outputKeyPrefix);
        // An empty passphrase is none: the key is written unencrypted, as the user chose.
        const secret = await passphrase(`${prefix}.key`, { confirm: true })();
        const { privatePath, publicPath } = await writeKeyPair(prefix, type, secret || undefined, Boolean(opts.force));
        reporter.info(`Private key written to ${privatePath}${secret ? ' (encrypted)' : ' (not encrypted: set ROOTFS_KEY_PASSWORD, or run on a terminal, to give it a passphrase)'}`);
        reporter.info(`Public key written to ${publicPath}`);
        reporter.emitJson({ type, privateKey: privatePath, publicKey: publicPath, encrypted: Boolean(secret) });
      }, opts),
    );
};
