import { UsageError } from '../errors.js';
import { readSigningKey, signImages } from '../trust/index.js';
import type { CommandModule } from './command.js';
import { passphrase } from './prompt.js';
import { withStore } from './store-option.js';
import { signatureLines } from './trust-options.js';

export const signCommand: CommandModule = (cli, run) => {
  cli
    .command('sign <...refs>', 'Sign images in the store with a local key (a Sigstore bundle attached as an OCI referrer, as cosign does); no network')
    .option('--key <file>', 'Private key: PEM (PKCS#8; encrypted ones read ROOTFS_KEY_PASSWORD or ask) or OpenSSH, ECDSA P-256 or Ed25519')
    .example('rootfs sign base:latest --key site-a.key')
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        if (typeof opts.key !== 'string') throw new UsageError('--key FILE is required (rootfs keygen makes one)');
        const key = await readSigningKey(opts.key, passphrase(opts.key));
        const signed = await withStore(opts, (store) => signImages(store, refs, key));
        for (const line of signatureLines(signed)) reporter.result(line);
        reporter.emitJson(signed.map(({ image, subject, referrer, bundle, sboms }) => ({ image, digest: subject.digest, signature: referrer.digest, bundle: bundle.digest, sboms: sboms.map((sbom) => ({ digest: sbom.subject.digest, signature: sbom.referrer.digest })) })));
      }, opts),
    );
};
