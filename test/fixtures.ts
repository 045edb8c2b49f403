/**
 * The test fixtures, one builder of each: a root tree with every kind of
 * entry, a tar built member by member (tarOf), an image (makeImage) as an
 * archive's members or put into a store (putImage, buildImage), and a
 * snapshot of a directory (a store before and after).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { native } from '../src/native/index.js';
import { sha256 } from '../src/oci/digest.js';
import { parseReference } from '../src/oci/reference.js';
import { emptyDescriptor, MediaType, type Descriptor, type Digest, type Index, type Manifest, type Platform } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntry } from '../src/tar/header.js';
import { requireRoot, requireTools, runOk } from './helpers.js';

/**
 * A small root filesystem with every kind of entry a host root holds and the
 * issues name: setuid binaries, a file capability, binary xattrs, an ACL,
 * hardlinks, symlinks (one dangling), a fifo, a device, a 200-byte name, a
 * non-UTF-8 name, a file owned by uid 3000000. Needs root, setcap and
 * setfacl; false (the test skipped loudly) without them.
 */
export function makeRootTree(t: TestContext, root: string): boolean {
  // The capability and the ACL are half of what the tree is for: without the tools it is not made, loudly.
  if (!requireRoot(t) || !requireTools(t, 'setcap', 'setfacl')) return false;
  const at = (rel: string): string => join(root, rel);
  for (const dir of ['bin', 'etc/ssh', 'usr/lib', 'var/log', 'home/user', 'dev', 'tmp']) mkdirSync(at(dir), { recursive: true });
  chmodSync(at('tmp'), 0o1777);
  writeFileSync(at('etc/hostname'), 'legacy-host\n');
  writeFileSync(at('etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  writeFileSync(at('bin/ping'), Buffer.alloc(4096, 0x7f));
  chmodSync(at('bin/ping'), 0o755);
  writeFileSync(at('bin/su'), Buffer.alloc(1000, 0x41));
  chmodSync(at('bin/su'), 0o4755);
  writeFileSync(at('usr/lib/big.bin'), Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a));
  // Hardlinks: a group of three, as busybox-style installs have.
  writeFileSync(at('bin/busybox'), 'busybox\n');
  linkSync(at('bin/busybox'), at('bin/sh'));
  linkSync(at('bin/busybox'), at('bin/ls'));
  symlinkSync('busybox', at('bin/dangling-ok'));
  symlinkSync('/nonexistent/target', at('bin/dangling'));
  symlinkSync('../usr/lib', at('bin/lib'));
  writeFileSync(at('home/user/.profile'), 'export PS1=$\n');
  chownSync(at('home/user/.profile'), 1000, 1000);
  chownSync(at('home/user'), 1000, 1000);
  writeFileSync(at('var/log/huge-uid'), 'owned by a big uid\n');
  chownSync(at('var/log/huge-uid'), 3000000, 3000001);
  const longName = `${'n'.repeat(200)}`;
  writeFileSync(at(`etc/${longName}`), 'long name\n');
  const rawName = Buffer.concat([Buffer.from(join(root, 'etc/latin1-')), Buffer.from([0xff, 0xe9]), Buffer.from('.conf')]);
  writeFileSync(rawName, 'not utf-8 name\n');
  native.lsetxattr(Buffer.from(at('etc/hostname')), Buffer.from('user.binary'), Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x01]));
  native.lsetxattr(Buffer.from(at('etc/hostname')), Buffer.from('trusted.note'), Buffer.from('trusted value'));
  for (const [tool, ...args] of [['setcap', 'cap_net_raw+ep', at('bin/ping')], ['setfacl', '-m', 'u:1000:rw', at('etc/passwd')]]) {
    const result = spawnSync(tool!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  native.mknod(Buffer.from(at('dev/null')), 0o020666, 1, 3);
  native.mknod(Buffer.from(at('dev/fifo')), 0o010644, 0, 0);
  // Fixed mtimes so archives of this tree can be compared across tools and runs.
  utimesSync(at('etc/hostname'), 1700000000, 1700000000);
  utimesSync(at('bin/su'), 1600000000, 1600000000);
  return true;
}

/**
 * Every path under dir, one line each, sorted: its mode, and its content's
 * sha256 (a file) or target (a symlink). What "the store is as it was" and
 * "nothing written" are checked against: a temp file left, a lock file made,
 * a blob added or an index rewritten differently all show, by name.
 */
export function snapshot(dir: string): string[] {
  const lines: string[] = [];
  const walk = (path: string, rel: string): void => {
    const info = lstatSync(path);
    const detail = info.isSymbolicLink() ? `-> ${readlinkSync(path)}` : info.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : '';
    lines.push(`${rel} ${info.mode.toString(8)} ${detail}`);
    if (info.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name), `${rel}/${name}`);
  };
  walk(dir, '.');
  return lines;
}

/** One member of a tar made by tarOf; what is left out takes the usual value. */
export interface TarMember {
  path: string | Buffer;
  /** A directory when the path ends in '/', a symlink when linkpath is given, else a file. */
  type?: TarEntry['type'];
  body?: string | Buffer;
  /** Symlink or hardlink target. */
  linkpath?: string | Buffer;
  /** 0755 for a directory, 0644 otherwise. */
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs?: Record<string, Buffer>;
  /** pax records we do not model, written as they are. */
  pax?: Map<string, Buffer>;
}

/**
 * A tar of the members, in order, written with our own header encoder: a
 * test breaks exactly one thing (a name, a link, a body) that no tree on disk
 * can make GNU tar write. `end` replaces the end-of-archive blocks (to cut or
 * pad an archive).
 */
export function tarOf(members: TarMember[], end: Buffer = END_OF_ARCHIVE): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    const type = member.type ?? (typeof member.path === 'string' && member.path.endsWith('/') ? 'directory' : member.linkpath === undefined ? 'file' : 'symlink');
    const body = type === 'file' ? Buffer.from(member.body ?? '') : Buffer.alloc(0);
    const entry: TarEntry = { path: Buffer.from(member.path), type, mode: member.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: member.uid ?? 0, gid: member.gid ?? 0, size: body.length, mtime: member.mtime ?? 1700000000 };
    if (member.linkpath !== undefined) entry.linkpath = Buffer.from(member.linkpath);
    if (member.xattrs) entry.xattrs = new Map(Object.entries(member.xattrs));
    if (member.pax) entry.pax = member.pax;
    parts.push(encodeHeader(entry), body, Buffer.alloc(padding(body.length)));
  }
  parts.push(end);
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------ images
/*
 * Hand-built images: makeImage, the one image builder, and its two sinks: the
 * member lists of a classic docker save, a Docker 25+ one (OCI layout +
 * manifest.json) and an OCI layout, tarred by tarOf so that a
 * test can break exactly one thing (a name, a digest, a media type) first;
 * or a store (putImage).
 */

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
export function layerTar(files: Record<string, string>): Buffer {
  return tarOf(Object.entries(files).map(([path, body]) => ({ path, body })));
}

export function makeLayer(files: Record<string, string>, compression: 'none' | 'gzip' = 'none'): FixtureLayer {
  return layerOfTar(layerTar(files), compression);
}

/**
 * A layer of the tar as it is, gzipped or zstd'd, labelled with the OCI media type of that compression, or Docker's
 * (`docker`), or `mediaType` whatever the bytes are (Docker 20.10 pushes plain tars labelled gzip).
 */
export function layerOfTar(tar: Buffer, compression: 'none' | 'gzip' | 'zstd' = 'none', label: { docker?: boolean; mediaType?: string } = {}): FixtureLayer {
  const blob = compression === 'gzip' ? gzipSync(tar) : compression === 'zstd' ? zstdCompress(tar) : tar;
  const types = label.docker ? { none: MediaType.DockerLayerTar, gzip: MediaType.DockerLayerGzip, zstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd' } : { none: MediaType.LayerTar, gzip: MediaType.LayerTarGzip, zstd: MediaType.LayerTarZstd };
  return { blob, diffId: sha256(tar), descriptor: { mediaType: label.mediaType ?? types[compression], digest: sha256(blob), size: blob.length } };
}

/** The one image builder: config and manifest over the layers, for an archive (the members below) or a store (putImage). */
/** `config` replaces the config document made from the layers (one that is broken, or no image config at all). */
export function makeImage(layers: FixtureLayer[], options: { platform?: Platform; diffIds?: Digest[]; label?: string; created?: string; config?: Buffer; docker?: boolean } = {}): FixtureImage {
  const platform = options.platform ?? { architecture: 'amd64', os: 'linux' };
  const created = options.created === undefined ? {} : { created: options.created };
  const config = options.config ?? Buffer.from(
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
  // Docker schema 2 types (docker): what Docker pushes and keeps, byte for byte, in its own OCI layout.
  const manifestType = options.docker ? MediaType.DockerManifest : MediaType.ImageManifest;
  const manifestDoc: Manifest = {
    schemaVersion: 2,
    mediaType: manifestType,
    config: { mediaType: options.docker ? MediaType.DockerConfig : MediaType.ImageConfig, digest: configDigest, size: config.length },
    layers: layers.map((layer) => layer.descriptor),
  };
  const manifest = Buffer.from(JSON.stringify(manifestDoc));
  return { config, configDigest, layers, manifest, manifestDescriptor: { mediaType: manifestType, digest: sha256(manifest), size: manifest.length, platform } };
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

/** The members as files under dir (an OCI layout on disk rather than in a tar). */
export function writeMembers(dir: string, members: TarMember[]): void {
  for (const member of members) {
    const path = join(dir, member.path.toString());
    if (member.path.toString().endsWith('/')) mkdirSync(path, { recursive: true });
    else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, member.body ?? '');
    }
  }
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

// ------------------------------------------------------------------ images in a store
/*
 * Builds images in a store by hand, the way an import does but from pieces a
 * test controls: a layer tar made by GNU tar, the image by makeImage, put
 * by putImage.
 */

export interface BuiltImage {
  manifest: Descriptor;
  configDigest: Digest;
  layer: Descriptor;
  diffId: Digest;
}

/** A gzip layer of a tiny tree holding `content`, with config and manifest; tagged when `name` is given. */
/** A layer of a tiny tree holding `content` (gzip unless `compression` says otherwise; labelled as layerOfTar's `docker` and `layerMediaType` say), with config and manifest; tagged when `name` is given. */
export async function buildImage(
  store: Store,
  workDir: string,
  options: { name?: string; content?: string; platform?: Platform; created?: string; compression?: 'none' | 'gzip' | 'zstd'; docker?: boolean; layerMediaType?: string } = {},
): Promise<BuiltImage> {
  const tree = join(workDir, `tree-${Math.random().toString(16).slice(2)}`);
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'hello'), options.content ?? 'hello\n');
  const tarPath = `${tree}.tar`;
  await runOk('tar', ['--numeric-owner', '--sort=name', '--mtime=@0', '-C', tree, '-cf', tarPath, '.']);
  const layer = layerOfTar(readFileSync(tarPath), options.compression ?? 'gzip', { ...(options.docker ? { docker: true } : {}), ...(options.layerMediaType ? { mediaType: options.layerMediaType } : {}) });
  const image = makeImage([layer], { platform: options.platform, created: options.created ?? '2024-01-02T03:04:05Z', ...(options.docker ? { docker: true } : {}) });
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
