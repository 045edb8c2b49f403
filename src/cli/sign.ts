import { UsageError } from '../errors.js';
import { readSigningKey, signImage } from '../trust/index.js';
import type { CommandModule } from './command.js';
import { passphrase } from './prompt.js';
import { withStore } from './store-option.js';
import { findImage } from '../store/resolve.js';

export const signCommand: CommandModule = (cli, run) => {
  cli
    .command('sign <...refs>', 'Sign images in the store with a local key (a Sigstore bundle attached as an OCI referrer, as cosign does); no network')
    .option('--key <file>', 'Private key: PEM (PKCS#8; encrypted ones read ROOTFS_KEY_PASSWORD or ask) or OpenSSH, ECDSA P-256 or Ed25519')
    .example('rootfs sign base:latest --key site-a.key')
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        if (typeof opts.key !== 'string') throw new UsageError('--key FILE is required (rootfs keygen makes one)');
        const key = await readSigningKey(opts.key, passphrase(opts.key));
        const signed = await withStore(opts, async (store) => {
          // Every name is found before anything is signed: a typo in the last must not leave the first ones signed alone.
          for (const text of refs) await findImage(store, text);
          const out = [];
          for (const text of refs) out.push({ image: text, ...(await signImage(store, text, key)) });
          return out;
        });
        for (const { image, subject, referrer } of signed) reporter.result(`${image}: signed ${subject.digest} (signature ${referrer.digest})`);
        reporter.emitJson(signed.map(({ image, subject, referrer, bundle }) => ({ image, digest: subject.digest, signature: referrer.digest, bundle: bundle.digest })));
      }, opts),
    );
};
