/**
 * Hand-built images: makeImage, the one image builder, and its two sinks: the
 * member lists of a classic docker save, a Docker 25+ one (OCI layout +
 * manifest.json) and an OCI layout, tarred by fixtures.ts tarOf so that a
 * test can break exactly one thing (a name, a digest, a media type) first;
 * or a store (putImage).
 */
import { gzipSync } from 'node:zlib';
import { sha256 } from '../src/oci/digest.js';
import { parseReference } from '../src/oci/reference.js';
import { MediaType, type Descriptor, type Digest, type Index, type Manifest, type Platform } from '../src/oci/types.js';
import type { Store } from '../src/store/store.js';
import { tarOf, type TarMember } from './fixtures.js';

export interface FixtureLayer {
  blob: Buffer;
  descriptor: Descriptor;
  diffId: Digest;
}

export interface FixtureImage {
  config: Buffer;
  configDigest: Digest;
  layers: FixtureLayer[];
  manifest: Buffer;
  manifestDescriptor: Descriptor;
}

/** A layer tar holding the given files. */
function layerTar(files: Record<string, string>): Buffer {
  return tarOf(Object.entries(files).map(([path, body]) => ({ path, body })));
}

export function makeLayer(files: Record<string, string>, compression: 'none' | 'gzip' = 'none'): FixtureLayer {
  return layerOfTar(layerTar(files), compression);
}

/** A layer of the tar as it is, or gzipped. */
export function layerOfTar(tar: Buffer, compression: 'none' | 'gzip' = 'none'): FixtureLayer {
  const blob = compression === 'gzip' ? gzipSync(tar) : tar;
  return { blob, diffId: sha256(tar), descriptor: { mediaType: compression === 'gzip' ? MediaType.LayerTarGzip : MediaType.LayerTar, digest: sha256(blob), size: blob.length } };
}

/** The one image builder: config and manifest over the layers, for an archive (the members below) or a store (putImage). */
export function makeImage(layers: FixtureLayer[], options: { platform?: Platform; diffIds?: Digest[]; label?: string; created?: string } = {}): FixtureImage {
  const platform = options.platform ?? { architecture: 'amd64', os: 'linux' };
  const created = options.created === undefined ? {} : { created: options.created };
  const config = Buffer.from(
    JSON.stringify({
      ...created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'], Labels: { fixture: options.label ?? 'yes' } },
      rootfs: { type: 'layers', diff_ids: options.diffIds ?? layers.map((layer) => layer.diffId) },
      history: layers.map((_, i) => ({ ...created, created_by: `layer ${i + 1}` })),
    }),
  );
  const configDigest = sha256(config);
  const manifestDoc: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: MediaType.ImageConfig, digest: configDigest, size: config.length },
    layers: layers.map((layer) => layer.descriptor),
  };
  const manifest = Buffer.from(JSON.stringify(manifestDoc));
  return { config, configDigest, layers, manifest, manifestDescriptor: { mediaType: MediaType.ImageManifest, digest: sha256(manifest), size: manifest.length, platform } };
}

const hex = (digest: Digest): string => digest.slice('sha256:'.length);
const blob = (digest: Digest, body: Buffer): TarMember => ({ path: `blobs/sha256/${hex(digest)}`, body });

/** Blob members of the images, each once. */
function blobMembers(images: FixtureImage[]): TarMember[] {
  const seen = new Map<string, TarMember>();
  for (const image of images) {
    for (const layer of image.layers) seen.set(layer.descriptor.digest, blob(layer.descriptor.digest, layer.blob));
    seen.set(image.configDigest, blob(image.configDigest, image.config));
    seen.set(image.manifestDescriptor.digest, blob(image.manifestDescriptor.digest, image.manifest));
  }
  return [...seen.values()];
}

const layoutMember: TarMember = { path: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') };

/** What Docker 25+ `docker save` writes: blobs, index.json with containerd names, manifest.json into blobs/, oci-layout. */
export function dockerHybridMembers(images: Array<{ image: FixtureImage; tags: string[] }>): TarMember[] {
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ImageIndex,
    manifests: images.map(({ image, tags }) => ({
      ...image.manifestDescriptor,
      ...(tags[0] ? { annotations: { 'io.containerd.image.name': `docker.io/library/${tags[0]}`, 'org.opencontainers.image.ref.name': tags[0].split(':')[1]! } } : {}),
    })),
  };
  const manifest = images.map(({ image, tags }) => ({ Config: `blobs/sha256/${hex(image.configDigest)}`, RepoTags: tags, Layers: image.layers.map((layer) => `blobs/sha256/${hex(layer.descriptor.digest)}`) }));
  return [
    { path: 'blobs/', type: 'directory' },
    { path: 'blobs/sha256/', type: 'directory' },
    ...blobMembers(images.map(({ image }) => image)),
    { path: 'index.json', body: Buffer.from(JSON.stringify(index)) },
    { path: 'manifest.json', body: Buffer.from(JSON.stringify(manifest)) },
    layoutMember,
  ];
}

/** What docker save wrote before 25: `<id>/layer.tar` (shared layers as symlinks to the first copy), `<hex>.json`, manifest.json last. */
export function dockerClassicMembers(images: Array<{ image: FixtureImage; tags: string[] }>): TarMember[] {
  const members: TarMember[] = [];
  const written = new Map<Digest, string>();
  const entries = images.map(({ image, tags }) => {
    const layers = image.layers.map((layer, i) => {
      const id = hex(sha256(`${image.configDigest} ${i}`));
      members.push({ path: `${id}/`, type: 'directory' }, { path: `${id}/VERSION`, body: Buffer.from('1.0') }, { path: `${id}/json`, body: Buffer.from(JSON.stringify({ id })) });
      const first = written.get(layer.descriptor.digest);
      if (first) members.push({ path: `${id}/layer.tar`, type: 'symlink', linkpath: `../${first}` });
      else {
        members.push({ path: `${id}/layer.tar`, body: layer.blob });
        written.set(layer.descriptor.digest, `${id}/layer.tar`);
      }
      return `${id}/layer.tar`;
    });
    members.push({ path: `${hex(image.configDigest)}.json`, body: image.config });
    return { Config: `${hex(image.configDigest)}.json`, RepoTags: tags, Layers: layers };
  });
  members.push({ path: 'repositories', body: Buffer.from('{}') }, { path: 'manifest.json', body: Buffer.from(JSON.stringify(entries)) });
  return members;
}

/** An OCI layout (oci-archive members): index.json entries named by ref.name. */
export function ociMembers(entries: Array<{ descriptor: Descriptor; refName?: string }>, images: FixtureImage[], extra: TarMember[] = []): TarMember[] {
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ImageIndex,
    manifests: entries.map(({ descriptor, refName }) => ({ ...descriptor, ...(refName ? { annotations: { 'org.opencontainers.image.ref.name': refName } } : {}) })),
  };
  return [layoutMember, ...blobMembers(images), ...extra, { path: 'index.json', body: Buffer.from(JSON.stringify(index)) }];
}

/** A multi-platform image index over the images, as a blob member and its descriptor. */
export function makeIndex(images: FixtureImage[]): { member: TarMember; descriptor: Descriptor } {
  const data = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: images.map((image) => image.manifestDescriptor) }));
  const digest = sha256(data);
  return { member: blob(digest, data), descriptor: { mediaType: MediaType.ImageIndex, digest, size: data.length } };
}

/** The image's blobs put into the store, tagged name when given: the store side of makeImage. */
export async function putImage(store: Store, image: FixtureImage, name?: string): Promise<Descriptor> {
  for (const layer of image.layers) await store.putBlob(layer.blob);
  await store.putBlob(image.config);
  const { platform: _, ...manifest } = image.manifestDescriptor;
  await store.putBlob(image.manifest);
  if (name) await store.tag(parseReference(name), manifest);
  return manifest;
}

/** An image of the layer tars, each gzipped, put into the store as name (squash, export, unpack and delta build theirs so). */
export function storeImage(store: Store, name: string, tars: Buffer[]): Promise<Descriptor> {
  return putImage(store, makeImage(tars.map((tar) => layerOfTar(tar, 'gzip')), { created: '2024-01-01T00:00:00Z' }), name);
}
