/** --require-signed PUB[,PUB…]: the trusted public keys, each read and checked before any input is. */
import { UsageError } from '../errors.js';
import type { ManifestGate } from '../split/index.js';
import type { PartSetReading } from '../transports/load.js';
import { join } from 'node:path';
import { pathExists } from '../io/metadata.js';
import { policyFileName, type BeforeNames } from '../store/staged.js';
import type { ImageSignature, TrustPolicy, VerifiedPartManifest, VerifyingKey } from '../trust/index.js';
import type { Reporter } from './report.js';

/** The trust code, loaded only by a command that signs or checks: the others start without it (about 35 ms). */
const trust = (): Promise<typeof import('../trust/index.js')> => import('../trust/index.js');

export async function readTrustedKeys(value: unknown, flag: string): Promise<VerifyingKey[]> {
  const files = keyFiles(value, flag);
  const keys: VerifyingKey[] = [];
  const { readVerifyingKey } = await trust();
  for (const file of files) keys.push(await readVerifyingKey(file));
  return keys;
}

/** The gate a part set passes before any part is read: its manifest signed by one of keys; says which. */
export function signedBy(keys: VerifyingKey[], reporter: Reporter, onVerified?: (signed: VerifiedPartManifest) => void): ManifestGate {
  return async (manifestPath) => {
    const signed = await (await trust()).verifyPartManifest(manifestPath, keys);
    onVerified?.(signed);
    reporter.info(`${manifestPath}: signature by ${signed.key.path} verified (${signed.signaturePath})`);
    return signed.manifest;
  };
}

/**
 * The gate of a set read with no key to check it by: a signature beside
 * its manifest is said to be there and not checked (stderr), never taken
 * for a checked one. Not a warning: reading an unchecked set is the
 * command's normal case, and its exit status stays as it was.
 */
export function signatureNotChecked(reporter: Reporter, flag: string): ManifestGate {
  return async (manifestPath) => (await trust()).uncheckedPartManifest(manifestPath, (signaturePath) => reporter.info(`${signaturePath}: ${notCheckedBecause(flag)}`));
}

/**
 * How load and copy read a part set: its manifest through the policy's keys
 * (a signed set vouches for every byte of the archive, so beforeNames does
 * not run), else with a note that a signature beside it was not checked; a
 * part rebuilt from the parity is a warning, the rebuild's progress drawn.
 */
export function partSetReading(reporter: Reporter, policy: TrustPolicy | undefined): PartSetReading {
  return {
    gate: policy ? signedBy(policy.keys, reporter) : signatureNotChecked(reporter, '--require-signed'),
    vouches: policy !== undefined,
    events: { onProgress: (what, bytes, total) => reporter.progress({ label: what, bytes, total }), onRepaired: (message) => reporter.warn(message) },
  };
}

/** What is said of a signature that no key was given to check: a present signature is not a checked one. */
export function notCheckedBecause(flag: string): string {
  return `signature present, not checked (give ${flag} PUB)`;
}

function keyFiles(value: unknown, flag: string): string[] {
  const files = (Array.isArray(value) ? value : [value]).flatMap((item) => (typeof item === 'string' ? item.split(',') : [])).filter((file) => file !== '');
  if (files.length === 0) throw new UsageError(`${flag} needs one or more public key files (comma-separated)`);
  return files;
}

/**
 * What images must carry to come in: the keys of --require-signed and, where
 * they come into a store (storeDir), of its policy.json. Undefined when
 * nothing is required. Read before any input is.
 */
export async function admissionPolicy(opts: Record<string, unknown>, storeDir: string | undefined): Promise<TrustPolicy | undefined> {
  const flag = opts.requireSigned === undefined ? [] : keyFiles(opts.requireSigned, '--require-signed');
  if (flag.length === 0 && (storeDir === undefined || !(await pathExists(join(storeDir, policyFileName))))) return undefined;
  const policy = await (await trust()).trustPolicy(storeDir, flag);
  if (policy && opts.referrers === false) throw new UsageError(`--no-referrers leaves the signatures behind, and ${policy.sources.join(' and ')} requires them`);
  return policy;
}

/** The beforeNames hook of a policy, saying on stderr which key verified each image. */
export function admissionHook(policy: TrustPolicy, reporter: Reporter): BeforeNames {
  return async (staged) => (await trust()).requireSigned(policy, (verified) => reporter.info(`${verified.name}: signature by ${verified.key.path} verified`))(staged);
}

/** What sign and save --sign say of each image signed: its signature, then its SBOMs'. */
export function signatureLines(signed: Array<ImageSignature & { image: string }>): string[] {
  return signed.flatMap(({ image, subject, referrer, sboms }) => [
    `${image}: signed ${subject.digest} (signature ${referrer.digest})`,
    ...sboms.map((sbom) => `${image}: signed its SBOM ${sbom.subject.digest} (signature ${sbom.referrer.digest})`),
  ]);
}
