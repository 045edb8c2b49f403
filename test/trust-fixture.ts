/** Keys and store fingerprints for the trust tests. */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, emptyDescriptor, type Descriptor, type Digest, type Manifest } from '../src/oci/types.js';
import { BundleMediaType, generateKeyPair } from '../src/trust/index.js';

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
      const info = lstatSync(full);
      hash.update(full);
      if (info.isDirectory()) walk(full);
      else hash.update(info.isSymbolicLink() ? readlinkSync(full) : readFileSync(full));
    }
  };
  walk(dir);
  return hash.digest('hex');
}

/** A signature manifest as rootfs sign and cosign attach one: the bundle as its one layer, subject as its subject. */
export function signatureManifest(subject: Descriptor, bundle: { digest: Digest; size: number }): Manifest {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: BundleMediaType,
    config: { ...emptyDescriptor },
    layers: [{ mediaType: BundleMediaType, ...bundle }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
}
