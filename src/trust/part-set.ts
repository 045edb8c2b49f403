/**
 * Signed part sets: a detached signature beside the part manifest
 * (NAME.parts.json), which lists every part's and the whole file's sha256,
 * so one signature covers every byte of the set. Two formats:
 *   NAME.parts.json.sigstore.json  a Sigstore bundle (PEM keys)
 *   NAME.parts.json.sig            an SSHSIG, namespace "rootfs" (SSH keys):
 *                                  the file `ssh-keygen -Y sign -n rootfs` writes
 * A checker accepts either: both are signatures over the same bytes.
 */
import { rm } from 'node:fs/promises';
import { VerificationError, fromFsError } from '../errors.js';
import { writeOutputFile } from '../io/output.js';
import { pathExists, readMetadata, readMetadataIfExists } from '../io/metadata.js';
import type { SigningKey, VerifyingKey } from './keys.js';
import { signMessage, verifyMessage } from './message.js';
import { signSshsig, verifySshsig } from './sshsig.js';

export function bundlePath(manifestPath: string): string {
  return `${manifestPath}.sigstore.json`;
}

export function sshsigPath(manifestPath: string): string {
  return `${manifestPath}.sig`;
}

/** Signs the manifest at manifestPath; returns the signature file written. A signature of the other format is removed: it signs an older manifest. */
export async function signPartManifest(manifestPath: string, key: SigningKey): Promise<string> {
  const manifest = await readMetadata(manifestPath, 'partManifest', 'a part manifest');
  const [path, other] = key.format === 'ssh' ? [sshsigPath(manifestPath), bundlePath(manifestPath)] : [bundlePath(manifestPath), sshsigPath(manifestPath)];
  await writeOutputFile(path, key.format === 'ssh' ? signSshsig(manifest, key) : signMessage(manifest, key));
  await removeIfThere(other);
  return path;
}

/**
 * The manifest of a set read where no key is given (a ManifestGate that
 * checks nothing): its bytes, and onUnchecked told of each signature file
 * beside it, so the command can say it was there and not checked.
 */
export async function uncheckedPartManifest(manifestPath: string, onUnchecked: (signaturePath: string) => void): Promise<Buffer> {
  const manifest = await readMetadata(manifestPath, 'partManifest', 'a part manifest');
  for (const path of [bundlePath(manifestPath), sshsigPath(manifestPath)]) if (await pathExists(path)) onUnchecked(path);
  return manifest;
}

/** After an unsigned split over an older signed set: its signatures sign a manifest that is gone, and would only fail. */
export async function removePartManifestSignatures(manifestPath: string): Promise<void> {
  for (const path of [bundlePath(manifestPath), sshsigPath(manifestPath)]) await removeIfThere(path);
}

async function removeIfThere(path: string): Promise<void> {
  try {
    await rm(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, path);
  }
}

export interface VerifiedPartManifest {
  manifestPath: string;
  signaturePath: string;
  format: 'sigstore-bundle' | 'sshsig';
  /** The bytes that verified: parse these, not a second read of the file, so what is used is what was signed. */
  manifest: Buffer;
}

/**
 * Checks that the set is signed by one of keys (the trusted keys of a
 * policy: any one suffices); throws VerificationError (unsigned, wrong-key,
 * bad-signature, malformed) naming the manifest, the first key's failure
 * when none verifies.
 */
export async function verifyPartManifest(manifestPath: string, keys: VerifyingKey[]): Promise<VerifiedPartManifest & { key: VerifyingKey }> {
  const manifest = await readMetadata(manifestPath, 'partManifest', 'a part manifest');
  const bundleFile = bundlePath(manifestPath);
  const sshsigFile = sshsigPath(manifestPath);
  const bundle = await readMetadataIfExists(bundleFile, 'signature', 'a Sigstore bundle');
  const sshsig = await readMetadataIfExists(sshsigFile, 'signature', 'an SSH signature');
  if (bundle === undefined && sshsig === undefined) {
    throw new VerificationError(manifestPath, 'unsigned', `no signature: neither ${bundleFile} nor ${sshsigFile} is there (split --sign KEY, or ssh-keygen -Y sign -n rootfs -f KEY ${manifestPath})`);
  }
  const checks: Array<{ signaturePath: string; format: VerifiedPartManifest['format']; check: (key: VerifyingKey) => void }> = [];
  if (sshsig !== undefined) checks.push({ signaturePath: sshsigFile, format: 'sshsig', check: (key) => verifySshsig(sshsig.toString('utf8'), manifest, key, manifestPath, sshsigFile) });
  if (bundle !== undefined) checks.push({ signaturePath: bundleFile, format: 'sigstore-bundle', check: (key) => void verifyMessage(bundle, manifest, key, manifestPath, bundleFile) });
  const failures: VerificationError[] = [];
  for (const key of keys) {
    for (const { signaturePath, format, check } of checks) {
      try {
        check(key);
        return { manifestPath, signaturePath, format, manifest, key };
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        failures.push(err);
      }
    }
  }
  throw failures[0]!;
}
