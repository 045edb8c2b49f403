import { ExitCode, printable, UsageError } from '../errors.js';
import { namesPartSet, parityFilesProblem, partSetProblem, partSetRepairable, verifyPartSet } from '../split/index.js';
import { checkStoredImage, uncheckedPartManifest, verifyStoredImage, type VerifiedPartManifest, type VerifyingKey } from '../trust/index.js';
import type { CommandModule, GlobalOptions } from './command.js';
import { formatBytes, type Reporter } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { notCheckedBecause, readTrustedKeys, signedBy } from './trust-options.js';
import { count } from '../text.js';

const notChecked = notCheckedBecause('--key');

export const verifyCommand: CommandModule = (cli, run) => {
  cli
    .command('verify <target>', 'Check a split set (DIR or its .parts.json: every part, and with --key its signature first; with parity, exit 1 when it can rebuild the bad parts) or an image in the store (REF: every blob against its digest, and with --key its signature by that key first); exit 3 naming what is wrong; what was not checked is said on stderr')
    .option('--key <files>', 'Trusted public key (PEM, as cosign.pub, or an OpenSSH .pub line), or several, comma-separated (any one suffices); without it no signature is checked, and verify says so')
    .option('--no-content', "For an image with --key: check the signature over the manifest only, not every layer's digest")
    .example('rootfs verify /media/usb')
    .example('rootfs verify /media/usb --key site-a.pub')
    .example('rootfs verify base:latest')
    .example('rootfs verify base:latest --key site-a.pub --json')
    .action((target: string, opts) =>
      run(async (reporter) => {
        const keys = opts.key !== undefined ? await readTrustedKeys(opts.key, '--key') : undefined;
        if (await namesPartSet(target)) return verifySet(target, keys, reporter);
        if (keys) return verifyImage(target, keys, opts.content !== false, opts, reporter);
        if (opts.content === false) throw new UsageError(`${target}: --no-content without --key would check nothing: give --key PUB to check the signature, or leave out --no-content to check every blob`);
        await checkImage(target, opts, reporter);
      }, opts),
    );
};

/** Exit 0: whole; 1: bad parts the parity can rebuild (join and load will); 3: not readable. */
async function verifySet(dir: string, keys: VerifyingKey[] | undefined, reporter: Reporter): Promise<ExitCode> {
  // The signature first: parts are read only when the manifest that names them is the signer's.
  let signed: VerifiedPartManifest | undefined;
  const unchecked: string[] = [];
  const gate = keys ? signedBy(keys, reporter, (verified) => (signed = verified)) : (manifestPath: string) => uncheckedPartManifest(manifestPath, (path) => unchecked.push(path));
  const result = await verifyPartSet(dir, (bytes, total) => reporter.progress({ label: 'verifying', bytes, total }), gate);
  // TypeScript does not see the gate's assignment and takes signed for undefined here.
  const signature = signed as VerifiedPartManifest | undefined;
  reporter.emitJson({
    ...result,
    signatureChecked: signature !== undefined,
    ...(signature ? { signature: signature.signaturePath, signatureFormat: signature.format } : {}),
    ...(unchecked.length > 0 ? { signaturesNotChecked: unchecked } : {}),
  });
  const problem = partSetProblem(result);
  if (problem) throw problem;
  for (const path of unchecked) reporter.warn(`${path}: ${notChecked}`);
  // Damaged parity costs protection, not data: said, as par2 verify does, without failing the check.
  const parityDamage = parityFilesProblem(result);
  if (parityDamage) reporter.warn(parityDamage);
  const repairable = partSetRepairable(result);
  if (repairable) {
    reporter.warn(`${repairable}: join and load -i rebuild them as they read, without writing to the set; copy it again, or run par2 repair on a copy`);
    return ExitCode.Warnings;
  }
  const parity = result.parity ? `, ${count(result.parity.recoverySlices, 'recovery slice')}` : '';
  reporter.result(`${printable(result.name)}: OK (${count(result.parts.length, 'part')}, ${formatBytes(result.size)}${parity}${signature ? ', signed' : unchecked.length > 0 ? `; ${notChecked}` : ''})`);
  return ExitCode.Ok;
}

async function verifyImage(text: string, keys: VerifyingKey[], content: boolean, opts: GlobalOptions, reporter: Reporter): Promise<void> {
  const verified = await withStoreReadOnly(opts, (store) => verifyStoredImage(store, text, keys, { content }));
  reporter.emitJson({ image: text, digest: verified.subject.digest, signatureChecked: true, signature: verified.referrer.digest, key: verified.key.path, keyHint: verified.bundle.hint, contentChecked: content, blobsChecked: verified.blobsChecked });
  if (!content) reporter.warn(`${text}: layers and config not checked against their digests (--no-content)`);
  reporter.result(`${text}: OK: ${verified.subject.digest} signed by ${verified.key.path}${content ? `, ${count(verified.blobsChecked, 'blob')} checked` : ''}`);
}

/** No key: every blob of the image against its digest; its signatures, if any, said to be there and not checked. */
async function checkImage(text: string, opts: GlobalOptions, reporter: Reporter): Promise<void> {
  const checked = await withStoreReadOnly(opts, (store) => checkStoredImage(store, text));
  reporter.emitJson({ image: text, digest: checked.subject.digest, signatureChecked: false, signaturesNotChecked: checked.signatures, contentChecked: true, blobsChecked: checked.blobsChecked });
  const signature = checked.signatures > 0 ? notChecked : 'no signature (give --key PUB to require one)';
  reporter.warn(`${text}: ${signature}`);
  reporter.result(`${text}: OK: ${checked.subject.digest}, ${count(checked.blobsChecked, 'blob')} checked; ${signature}`);
}
