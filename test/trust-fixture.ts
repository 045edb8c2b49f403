/** Keys and store fingerprints for the trust tests. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../src/oci/digest.js';
import { MediaType, emptyDescriptor, type Digest, type Index, type Manifest } from '../src/oci/types.js';
import { BundleMediaType, generateKeyPair, signImageDigest, type SigningKey } from '../src/trust/index.js';

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

/**
 * Adds count signature manifests by key to the OCI layout's image named
 * refName, each its own bundle (a statement naming the image under another
 * name), listed in index.json as referrers: what someone who can write the
 * medium adds to make a check slow. Written with plain file writes: a
 * fixture, not a store.
 */
export function addSignatures(layout: string, refName: string, count: number, key: SigningKey): void {
  const indexPath = join(layout, 'index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Index;
  const subject = index.manifests.find((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] === refName)!;
  const put = (bytes: Buffer): { digest: Digest; size: number } => {
    const digest = sha256(bytes);
    writeFileSync(join(layout, 'blobs/sha256', digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  put(Buffer.from('{}'));
  for (let i = 0; i < count; i++) {
    const bundle = put(signImageDigest(`${refName}-${i}`, subject.digest, key));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      artifactType: BundleMediaType,
      config: { ...emptyDescriptor },
      layers: [{ mediaType: BundleMediaType, ...bundle }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    };
    index.manifests.push({ mediaType: MediaType.ImageManifest, ...put(Buffer.from(JSON.stringify(manifest))), artifactType: BundleMediaType });
  }
  writeFileSync(indexPath, JSON.stringify(index));
}
