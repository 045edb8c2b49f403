/** --require-signed PUB[,PUB…]: the trusted public keys, each read and checked before any input is. */
import { UsageError } from '../errors.js';
import type { ManifestGate } from '../split/index.js';
import { readVerifyingKey, verifyPartManifest, type VerifiedPartManifest, type VerifyingKey } from '../trust/index.js';
import type { Reporter } from './report.js';

export async function readTrustedKeys(value: unknown, flag: string): Promise<VerifyingKey[]> {
  const files = (Array.isArray(value) ? value : [value]).flatMap((item) => (typeof item === 'string' ? item.split(',') : [])).filter((file) => file !== '');
  if (files.length === 0) throw new UsageError(`${flag} needs one or more public key files (comma-separated)`);
  const keys: VerifyingKey[] = [];
  for (const file of files) keys.push(await readVerifyingKey(file));
  return keys;
}

/** The gate a part set passes before any part is read: its manifest signed by one of keys; says which. */
export function signedBy(keys: VerifyingKey[], reporter: Reporter, onVerified?: (signed: VerifiedPartManifest) => void): ManifestGate {
  return async (manifestPath) => {
    const signed = await verifyPartManifest(manifestPath, keys);
    onVerified?.(signed);
    reporter.info(`${manifestPath}: signature by ${signed.key.path} verified (${signed.signaturePath})`);
    return signed.manifest;
  };
}
