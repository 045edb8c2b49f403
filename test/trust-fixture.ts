/** Keys and signature manifests for the trust tests. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, emptyDescriptor, type Descriptor, type Digest, type Manifest } from '../src/oci/types.js';
import { BundleMediaType, generateKeyPair } from '../src/trust/index.js';

export function writeKeys(dir: string, name: string, type: 'ecdsa-p256' | 'ed25519' = 'ecdsa-p256'): { key: string; pub: string } {
  const { privatePem, publicPem } = generateKeyPair(type);
  writeFileSync(join(dir, `${name}.key`), privatePem, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.pub`), publicPem);
  return { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`) };
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
