/** --require-signed PUB[,PUB…]: the trusted public keys, each read and checked before any input is. */
import { UsageError } from '../errors.js';
import { readVerifyingKey, type VerifyingKey } from '../trust/index.js';

export async function readTrustedKeys(value: unknown, flag: string): Promise<VerifyingKey[]> {
  const files = (Array.isArray(value) ? value : [value]).flatMap((item) => (typeof item === 'string' ? item.split(',') : [])).filter((file) => file !== '');
  if (files.length === 0) throw new UsageError(`${flag} needs one or more public key files (comma-separated)`);
  const keys: VerifyingKey[] = [];
  for (const file of files) keys.push(await readVerifyingKey(file));
  return keys;
}
