/**
 * Every source × every sink through `rootfs copy`, for three images: one as
 * a build of today makes it (two platforms, a buildx attestation manifest,
 * and OCI 1.1 referrers, one on the index, one on the amd64 manifest), a
 * zstd image (which a docker archive can only hold uncompressed), and an
 * image whose plain-tar layer is labelled gzip (as Docker 20.10 pushes
 * after loading uncompressed layers). Then each is carried on the way an
 * air gap is crossed: pull → save → load, load → push → pull, copy → load,
 * every hop keeping the manifest digest where the format can. Each sink is
 * read back by the peer that reads that format: skopeo copies all of it
 * (checking every blob digest, and diff_ids from docker archives) and reads
 * its configs; docker-registry answers for the registry. Manifest digests
 * are kept where the format can keep them; diff_ids always.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { sha256 } from '../src/oci/digest.js';
import { Annotation, MediaType, type Digest, type Index, type Manifest } from '../src/oci/types.js';
import type { Store } from '../src/store/store.js';
import { makeTempDir, requireTools, rootfs, runOk } from './helpers.js';
import { skopeo, startRegistry, type RegistryServer } from './registry-server.js';
import { buildAttestedImage, buildImage, buildReferrer, withStore } from './fixtures.js';

const kinds = ['store', 'docker-archive', 'docker-legacy', 'oci', 'oci-archive', 'registry'] as const;
type Kind = (typeof kinds)[number];

interface Seed {
  /** What matrix:1 names in the seed store: the index, or the one manifest. */
  top: Digest;
  amd: Digest;
  amdDiffIds: string[];
  /** A two-platform image: the arm64 image's diff_ids. */
  armDiffIds?: string[];
  /** Referrers whose subject is the index, and the amd64 manifest (the attested image only). */
  indexReferrer?: Digest;
  amdReferrer?: Digest;
  /** Layers are zstd: a docker archive holds them uncompressed, so the manifest digest changes there. */
  zstd?: boolean;
  /**
   * Docker schema 2 media types, kept byte for byte in an OCI layout (as Docker 25's own save does). skopeo's oci:
   * transport lists only OCI manifest types from index.json, so it cannot be the peer that reads such a layout.
   */
  dockerTypes?: boolean;
}

/** The three images of the matrix, each built in its own seed store. */
const seeds: Record<string, (store: Store, dir: string) => Promise<Seed>> = {
  attested: async (store, dir) => {
    const built = await buildAttestedImage(store, dir, 'matrix:1');
    return {
      top: built.index.digest,
      amd: built.amd.manifest.digest,
      amdDiffIds: [built.amd.diffId],
      armDiffIds: [built.arm.diffId],
      indexReferrer: built.referrer.digest,
      amdReferrer: (await buildReferrer(store, built.amd.manifest)).digest,
    };
  },
  zstd: async (store, dir) => {
    const built = await buildImage(store, dir, { name: 'matrix:1', compression: 'zstd' });
    return { top: built.manifest.digest, amd: built.manifest.digest, amdDiffIds: [built.diffId], zstd: true };
  },
  mislabelled: async (store, dir) => {
    const built = await buildImage(store, dir, { name: 'matrix:1', compression: 'none', docker: true, layerMediaType: MediaType.DockerLayerGzip });
    return { top: built.manifest.digest, amd: built.manifest.digest, amdDiffIds: [built.diffId], dockerTypes: true };
  },
};

/** Where one image of a kind lives: what `rootfs copy` is given, and what skopeo is. */
interface Place {
  kind: Kind;
  copy: string;
  skopeo: string;
  /** The store directory, for kind store. */
  store?: string;
}

function place(kind: Kind, dir: string, registry: RegistryServer, label: string): Place {
  const at = join(dir, label);
  switch (kind) {
    case 'store':
      return { kind, copy: 'rootfs:matrix:1', skopeo: `oci:${at}:matrix:1`, store: at };
    case 'oci':
      return { kind, copy: `oci:${at}:matrix`, skopeo: `oci:${at}:matrix` };
    case 'oci-archive':
      return { kind, copy: `oci-archive:${at}.tar:matrix`, skopeo: `oci-archive:${at}.tar:matrix` };
    case 'docker-archive':
      return { kind, copy: `docker-archive:${at}.tar:matrix:1`, skopeo: `docker-archive:${at}.tar` };
    case 'docker-legacy':
      return { kind, copy: `docker-legacy:${at}.tar:matrix:1`, skopeo: `docker-archive:${at}.tar` };
    case 'registry':
      return { kind, copy: `docker://${registry.host}/${label}:1`, skopeo: `docker://${registry.host}/${label}:1` };
  }
}

async function copy(from: Place, to: Place, storeDir: string): Promise<string> {
  // From a registry a copy takes this machine's platform unless asked for every one, as skopeo copy does; a docker archive holds one anyway.
  const all = from.kind === 'registry' && !docker(to.kind) ? ['--all-platforms'] : [];
  const result = await rootfs(['--store', storeDir, 'copy', ...all, from.copy, to.copy]);
  assert.equal(result.code, 0, `rootfs copy ${from.copy} ${to.copy}: ${result.stderr}`);
  return result.stderr;
}

/** The image index.json (of a layout, or a tar holding one) names: its descriptor, and the untagged entries beside it. */
function layoutIndex(p: Place): Index | undefined {
  const path = p.kind === 'store' ? join(p.store!, 'index.json') : p.kind === 'oci' ? join(p.copy.split(':')[1]!, 'index.json') : undefined;
  if (path) return JSON.parse(readFileSync(path, 'utf8')) as Index;
  return undefined;
}

async function tarIndex(file: string): Promise<Index | undefined> {
  const listing = (await runOk('tar', ['-tf', file])).stdout.toString().split('\n');
  if (!listing.includes('index.json')) return undefined;
  return JSON.parse((await runOk('tar', ['-xOf', file, 'index.json'])).stdout.toString()) as Index;
}

async function indexOf(p: Place): Promise<Index | undefined> {
  if (p.kind === 'oci-archive' || p.kind === 'docker-archive' || p.kind === 'docker-legacy') return tarIndex(p.copy.split(':')[1]!);
  return layoutIndex(p);
}

/** The digest of what the place names: its index.json entry, or the registry's manifest; undefined for a classic archive (no manifest of ours in it). */
async function topDigest(p: Place): Promise<string | undefined> {
  if (p.kind === 'registry') return sha256(Buffer.from(await skopeo('inspect', '--raw', '--tls-verify=false', p.skopeo)));
  if (p.kind === 'docker-legacy') return undefined;
  const index = await indexOf(p);
  assert.ok(index, `${p.copy}: no index.json`);
  const images = index.manifests.filter((entry) => entry.annotations?.[Annotation.Subject] === undefined && entry.artifactType === undefined);
  assert.equal(images.length, 1, `${p.copy}: one image in index.json, not ${JSON.stringify(index.manifests)}`);
  return images[0]!.digest;
}

/** The referrers the place holds for subject. */
async function referrersOf(p: Place, subject: Digest): Promise<Digest[]> {
  if (p.kind === 'registry') {
    // docker-registry 2.8 has no referrers API: the OCI 1.1 tag schema fallback is what a client finds.
    const fallback = p.skopeo.replace(/:1$/, `:sha256-${subject.slice(7)}`);
    let raw: string;
    try {
      raw = await skopeo('inspect', '--raw', '--tls-verify=false', fallback);
    } catch {
      return [];
    }
    return (JSON.parse(raw) as Index).manifests.map((entry) => entry.digest);
  }
  const index = await indexOf(p);
  if (!index) return [];
  const found: Digest[] = [];
  for (const entry of index.manifests) {
    if (entry.annotations?.[Annotation.RefName] !== undefined && p.kind !== 'store') continue;
    const manifest = await readManifest(p, entry.digest);
    if (manifest?.subject?.digest === subject) found.push(entry.digest);
  }
  return found;
}

async function readManifest(p: Place, digest: Digest): Promise<Manifest | undefined> {
  const name = `blobs/sha256/${digest.slice(7)}`;
  if (p.kind === 'store' || p.kind === 'oci') {
    const path = join(p.kind === 'store' ? p.store! : p.copy.split(':')[1]!, name);
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Manifest) : undefined;
  }
  const result = await runOk('tar', ['-xOf', p.copy.split(':')[1]!, name]);
  return JSON.parse(result.stdout.toString()) as Manifest;
}

async function diffIds(p: Place, arch: 'amd64' | 'arm64'): Promise<string[]> {
  const platform = arch === 'amd64' ? ['--override-arch', 'amd64'] : ['--override-arch', 'arm64', '--override-variant', 'v8'];
  const config = JSON.parse(await skopeo('inspect', '--config', '--tls-verify=false', '--override-os', 'linux', ...platform, p.skopeo)) as { rootfs: { diff_ids: string[] } };
  return config.rootfs.diff_ids;
}

const docker = (kind: Kind): boolean => kind === 'docker-archive' || kind === 'docker-legacy';

for (const [label, build] of Object.entries(seeds)) {
  test(`transport matrix (${label} image): every source × every sink, read back by the peer of each sink`, async (t) => {
    if (!requireTools(t, 'skopeo', 'docker-registry', 'tar')) return;
    const dir = makeTempDir(t, `rootfs-matrix-${label}-`);
    const registry = await startRegistry(t);
    const seedStore = join(dir, 'seed');
    const seed = await withStore(seedStore, (store) => build(store, dir));
    for (const sourceKind of kinds) {
      // Each source made once from the seed store, by rootfs copy itself.
      const source = sourceKind === 'store' ? { ...place('store', dir, registry, 'seed') } : place(sourceKind, dir, registry, `src-${sourceKind}`);
      if (sourceKind !== 'store') await copy(place('store', dir, registry, 'seed'), source, seedStore);
      for (const sinkKind of kinds) {
        if (sourceKind === 'store' && sinkKind === 'store') continue;
        await t.test(`${sourceKind} → ${sinkKind}`, async (st) => checkCopy(st, seed, source, place(sinkKind, dir, registry, `${sourceKind}-to-${sinkKind}`), sourceKind === 'store' ? seedStore : join(dir, `${sourceKind}-to-${sinkKind}`), dir));
      }
    }
  });

  test(`air gap hops (${label} image): pull → save → load, load → push → pull, copy → load keep the manifest digest`, async (t) => {
    if (!requireTools(t, 'docker-registry')) return;
    const dir = makeTempDir(t, `rootfs-hops-${label}-`);
    const registry = await startRegistry(t);
    const seedStore = join(dir, 'seed');
    const seed = await withStore(seedStore, (store) => build(store, dir));
    const step = async (store: string, ...args: string[]): Promise<void> => {
      const result = await rootfs(['--store', join(dir, store), ...args]);
      assert.equal(result.code, 0, `rootfs --store ${store} ${args.join(' ')}: ${result.stderr}`);
    };
    const digestIn = async (store: string, name: string): Promise<string> => {
      const rows = JSON.parse((await rootfs(['--store', join(dir, store), 'images', '--json'])).stdout.toString()) as Array<{ repository: string; tag: string; digest: string }>;
      const [repository, tag] = name.split(':');
      const row = rows.find((r) => r.repository.endsWith(repository!) && r.tag === tag);
      assert.ok(row, `${name} not in ${store}: ${JSON.stringify(rows)}`);
      return row.digest;
    };
    // A pull takes this machine's platform: the amd64 manifest.
    await step('seed', 'push', 'matrix:1', `${registry.host}/hops/app:1`);
    await step('pulled', 'pull', `${registry.host}/hops/app:1`, 'app:1');
    assert.equal(await digestIn('pulled', 'app:1'), seed.amd, 'pull keeps the manifest digest');
    for (const format of ['docker-archive', 'oci-archive'] as const) {
      const archive = join(dir, `pulled.${format}.tar`);
      await step('pulled', 'save', 'app:1', '--format', format, '-o', archive);
      await step(`site-${format}`, 'load', '-i', archive);
      const converted = seed.zstd === true && format === 'docker-archive';
      const loaded = await digestIn(`site-${format}`, 'app:1');
      if (converted) assert.notEqual(loaded, seed.amd, 'zstd layers become uncompressed in a docker archive');
      else assert.equal(loaded, seed.amd, `pull → save (${format}) → load keeps the manifest digest`);
      // load → push → pull, from the site's store on.
      await step(`site-${format}`, 'push', 'app:1', `${registry.host}/hops/${format}:1`);
      await step(`back-${format}`, 'pull', `${registry.host}/hops/${format}:1`, 'app:1');
      assert.equal(await digestIn(`back-${format}`, 'app:1'), loaded, `load → push → pull (${format}) keeps the manifest digest`);
    }
    // copy → load: the whole image (an index stays an index).
    const copied = join(dir, 'copied.tar');
    await step('seed', 'copy', 'rootfs:matrix:1', `oci-archive:${copied}:app`);
    await step('copied', 'load', '-i', copied, '--tag', 'app:1');
    assert.equal(await digestIn('copied', 'app:1'), seed.top, 'copy → load keeps the digest of what was copied');
  });
}

async function checkCopy(t: TestContext, seed: Seed, source: Place, sink: Place, storeDir: string, dir: string): Promise<void> {
  const stderr = await copy(source, sink, storeDir);
  const twoPlatforms = seed.armDiffIds !== undefined;
  const indexKept = twoPlatforms && !docker(source.kind) && !docker(sink.kind);
  const legacy = source.kind === 'docker-legacy' || sink.kind === 'docker-legacy';
  // zstd layers become uncompressed in a docker archive: a new manifest digest from there on.
  const converted = seed.zstd === true && (docker(source.kind) || docker(sink.kind));
  if (sink.kind === 'docker-legacy' && source.kind !== 'docker-legacy' && seed.indexReferrer !== undefined) assert.match(stderr, /referrer/, 'docker-legacy says in one line that referrers are left out');

  // skopeo reads all of it: every blob digest checked, diff_ids too for a docker archive.
  const layoutOfDockerTypes = seed.dockerTypes === true && !legacy && (sink.kind === 'store' || sink.kind === 'oci' || sink.kind === 'oci-archive');
  if (layoutOfDockerTypes) {
    t.diagnostic(`${sink.copy}: Docker schema 2 manifests in an OCI layout are not read by skopeo's oci: transport; rootfs reads it back as the source of the next rows`);
  } else {
    mkdirSync(join(dir, 'peer'), { recursive: true });
    await skopeo('copy', '--all', '--src-tls-verify=false', sink.skopeo, `oci:${join(dir, 'peer', `${source.kind}-${sink.kind}`)}:x`);
    assert.deepEqual(await diffIds(sink, 'amd64'), seed.amdDiffIds, 'amd64 diff_ids');
    if (indexKept) assert.deepEqual(await diffIds(sink, 'arm64'), seed.armDiffIds, 'arm64 diff_ids');
  }

  const top = await topDigest(sink);
  if (indexKept) assert.equal(top, seed.top, 'the index digest is kept');
  else if (converted && !legacy) assert.notEqual(top, seed.amd, 'a zstd image in a docker archive is a new manifest (its layers uncompressed)');
  else if (!legacy) assert.equal(top, seed.amd, twoPlatforms ? 'the amd64 manifest digest is kept (a docker archive holds one platform)' : 'the manifest digest is kept');

  if (sink.kind === 'docker-legacy' || seed.indexReferrer === undefined) return;
  assert.deepEqual(await referrersOf(sink, seed.top), indexKept ? [seed.indexReferrer] : [], "the index's referrer goes where the index goes");
  assert.deepEqual(await referrersOf(sink, seed.amd), legacy ? [] : [seed.amdReferrer], "the amd64 manifest's referrer goes everywhere but a classic archive");
  t.diagnostic(`${source.copy} → ${sink.copy}: top ${top ?? '(classic archive)'}`);
}
