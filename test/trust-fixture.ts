/** Keys and store fingerprints for the trust tests. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair } from '../src/trust/index.js';

export function writeKeys(dir: string, name: string, type: 'ecdsa-p256' | 'ed25519' = 'ecdsa-p256'): { key: string; pub: string } {
  const { privatePem, publicPem } = generateKeyPair(type);
  writeFileSync(join(dir, `${name}.key`), privatePem, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.pub`), publicPem);
  return { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`) };
}

/** Every file of the store and its contents, hashed: what "the store unchanged" is checked against. */
export function storeHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (path: string): void => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      if (name === 'tmp' || name.endsWith('.lock')) continue;
      const info = statSync(full);
      hash.update(full);
      if (info.isDirectory()) walk(full);
      else hash.update(readFileSync(full));
    }
  };
  walk(dir);
  return hash.digest('hex');
}
