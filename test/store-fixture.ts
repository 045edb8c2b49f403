/**
 * Builds images in a store by hand, the way an import does but from pieces a
 * test controls: a layer tar made by GNU tar, the image by formats-fixtures'
 * makeImage, put by putImage.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseReference } from '../src/oci/reference.js';
import { emptyDescriptor, MediaType, type Descriptor, type Digest, type Index, type Manifest, type Platform } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { layerOfTar, makeImage, putImage } from './formats-fixtures.js';
import { runOk } from './helpers.js';

export interface BuiltImage {
  manifest: Descriptor;
  configDigest: Digest;
  layer: Descriptor;
  diffId: Digest;
}

/** A gzip layer of a tiny tree holding `content`, with config and manifest; tagged when `name` is given. */
export async function buildImage(store: Store, workDir: string, options: { name?: string; content?: string; platform?: Platform; created?: string } = {}): Promise<BuiltImage> {
  const tree = join(workDir, `tree-${Math.random().toString(16).slice(2)}`);
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'hello'), options.content ?? 'hello\n');
  const tarPath = `${tree}.tar`;
  await runOk('tar', ['--numeric-owner', '--sort=name', '--mtime=@0', '-C', tree, '-cf', tarPath, '.']);
  const layer = layerOfTar(readFileSync(tarPath), 'gzip');
  const image = makeImage([layer], { platform: options.platform, created: options.created ?? '2024-01-02T03:04:05Z' });
  return { manifest: await putImage(store, image, options.name), configDigest: image.configDigest, layer: layer.descriptor, diffId: layer.diffId };
}

/** A linux/amd64 + linux/arm64/v8 image index tagged `name` (its children untagged). */
export async function buildMultiPlatformImage(store: Store, workDir: string, name: string): Promise<{ index: Descriptor; amd: BuiltImage; arm: BuiltImage }> {
  const { amd, arm, manifests } = await buildPlatforms(store, workDir);
  return { index: await putIndex(store, name, manifests), amd, arm };
}

/** The two platforms' images, and their index entries. */
async function buildPlatforms(store: Store, workDir: string): Promise<{ amd: BuiltImage; arm: BuiltImage; manifests: Descriptor[] }> {
  const amd = await buildImage(store, workDir, { content: 'amd64\n', platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await buildImage(store, workDir, { content: 'arm64\n', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const manifests = [
    { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
    { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ];
  return { amd, arm, manifests };
}

/** An image index of manifests, stored and tagged name. */
async function putIndex(store: Store, name: string, manifests: Descriptor[]): Promise<Descriptor> {
  const document: Index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests };
  const index: Descriptor = { mediaType: MediaType.ImageIndex, ...(await store.putBlob(Buffer.from(JSON.stringify(document)))) };
  await store.tag(parseReference(name), index);
  return index;
}

/** Runs fn with the store at dir open, closing it whatever happens. */
export async function withStore<T>(dir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(dir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * What a build of today pushes: a linux/amd64 + linux/arm64/v8 index whose
 * amd64 image has a buildx attestation manifest beside it (platform
 * unknown/unknown, an in-toto layer that is not a tar), and an OCI 1.1
 * referrer (an SBOM artifact whose subject is the index), tagged `name`.
 */
export async function buildAttestedImage(store: Store, workDir: string, name: string): Promise<{ index: Descriptor; amd: BuiltImage; arm: BuiltImage; attestation: Descriptor; referrer: Descriptor }> {
  const { amd, arm, manifests } = await buildPlatforms(store, workDir);
  const statement = await store.putBlob(Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', predicateType: 'https://spdx.dev/Document', subject: [{ name: 'x', digest: { sha256: amd.manifest.digest.slice(7) } }], predicate: {} })));
  const attestationConfig = await store.putBlob(Buffer.from(JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [statement.digest] } })));
  const attestationManifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: MediaType.ImageConfig, ...attestationConfig },
    layers: [{ mediaType: 'application/vnd.in-toto+json', ...statement, annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } }],
  };
  const attestation: Descriptor = {
    mediaType: MediaType.ImageManifest,
    ...(await store.putBlob(Buffer.from(JSON.stringify(attestationManifest)))),
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.digest': amd.manifest.digest, 'vnd.docker.reference.type': 'attestation-manifest' },
  };
  const index = await putIndex(store, name, [...manifests, attestation]);
  const referrer = await buildReferrer(store, index, { artifactType: 'application/spdx+json', payload: 'sbom' });
  return { index, amd, arm, attestation, referrer };
}

export const emptyConfig = emptyDescriptor;

/**
 * A referrer of subject, as `rootfs sign`, cosign and oras make them: a
 * manifest with that subject, an artifactType, the empty config and one JSON
 * layer holding `payload`; its blobs put and the store told (addReferrer).
 */
export async function buildReferrer(store: Store, subject: Descriptor, options: { artifactType?: string; payload?: string } = {}): Promise<Descriptor> {
  const artifactType = options.artifactType ?? 'application/vnd.example.signature.v1+json';
  await store.putBlob(Buffer.from('{}'));
  const layer = await store.putBlob(Buffer.from(JSON.stringify({ signed: subject.digest, payload: options.payload ?? 'signature' })));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType,
    config: { ...emptyConfig },
    layers: [{ mediaType: 'application/vnd.example.payload.v1+json', ...layer }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'org.opencontainers.image.created': '2024-01-02T03:04:05Z' },
  };
  const descriptor: Descriptor = { mediaType: MediaType.ImageManifest, ...(await store.putBlob(Buffer.from(JSON.stringify(manifest)))), artifactType };
  await store.addReferrer(descriptor, subject.digest);
  return descriptor;
}
