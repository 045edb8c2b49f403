/** Keys, signature manifests and verification outcomes for the trust tests. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, emptyDescriptor, type Descriptor, type Digest, type Manifest } from '../src/oci/types.js';
import { VerificationError } from '../src/errors.js';
import type { Store } from '../src/store/store.js';
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

/** The problem and message of the VerificationError promise rejects with; fails if it resolves. */
export async function problemOf(promise: Promise<unknown>): Promise<{ problem: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof VerificationError) return { problem: err.problem, message: err.message };
    throw err;
  }
  assert.fail('verification succeeded');
}

/** Replaces image's signature referrers with one signature manifest whose layer is bundleBytes (a forger's or a swapped bundle). */
export async function replaceSignature(store: Store, subject: Descriptor, bundleBytes: Buffer): Promise<void> {
  const bundle = await store.putBlob(bundleBytes);
  const written = await store.putBlob(Buffer.from(JSON.stringify(signatureManifest(subject, bundle))));
  await store.updateIndex((index) => {
    index.manifests = index.manifests.filter((entry) => entry.annotations?.['io.rootfs.subject'] !== subject.digest);
  });
  await store.addReferrer({ mediaType: MediaType.ImageManifest, ...written, artifactType: BundleMediaType }, subject.digest);
}
