/**
 * Every source × every sink through `rootfs copy`, for an image as a build
 * of today makes it: two platforms, a buildx attestation manifest, and OCI
 * 1.1 referrers (one on the index, one on the amd64 manifest). Each sink is
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
import { Annotation, type Digest, type Index, type Manifest } from '../src/oci/types.js';
import { makeTempDir, requireTools, rootfs, runOk } from './helpers.js';
import { skopeo, startRegistry, type RegistryServer } from './registry-server.js';
import { buildAttestedImage, buildReferrer, withStore } from './fixtures.js';

const kinds = ['store', 'docker-archive', 'docker-legacy', 'oci', 'oci-archive', 'registry'] as const;
type Kind = (typeof kinds)[number];

interface Seed {
  index: Digest;
  amd: Digest;
  arm: Digest;
  amdDiffIds: string[];
  armDiffIds: string[];
  /** Referrers whose subject is the index, and the amd64 manifest. */
  indexReferrer: Digest;
  amdReferrer: Digest;
}

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
  const result = await rootfs(['--store', storeDir, 'copy', from.copy, to.copy]);
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

test('transport matrix: every source × every sink, read back by the peer of each sink', async (t) => {
  if (!requireTools(t, 'skopeo', 'docker-registry', 'tar')) return;
  const dir = makeTempDir(t, 'rootfs-matrix-');
  const registry = await startRegistry(t);
  const seedStore = join(dir, 'seed');
  const built = await withStore(seedStore, (store) => buildAttestedImage(store, dir, 'matrix:1'));
  const seed: Seed = {
    index: built.index.digest,
    amd: built.amd.manifest.digest,
    arm: built.arm.manifest.digest,
    amdDiffIds: [built.amd.diffId],
    armDiffIds: [built.arm.diffId],
    indexReferrer: built.referrer.digest,
    amdReferrer: (await withStore(seedStore, (store) => buildReferrer(store, built.amd.manifest))).digest,
  };

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

async function checkCopy(t: TestContext, seed: Seed, source: Place, sink: Place, storeDir: string, dir: string): Promise<void> {
  const stderr = await copy(source, sink, storeDir);
  const indexKept = !docker(source.kind) && !docker(sink.kind);
  const legacy = source.kind === 'docker-legacy' || sink.kind === 'docker-legacy';
  if (sink.kind === 'docker-legacy' && source.kind !== 'docker-legacy') assert.match(stderr, /referrer/, 'docker-legacy says in one line that referrers are left out');

  // skopeo reads all of it: every blob digest checked, diff_ids too for a docker archive.
  mkdirSync(join(dir, 'peer'), { recursive: true });
  await skopeo('copy', '--all', '--src-tls-verify=false', sink.skopeo, `oci:${join(dir, 'peer', `${source.kind}-${sink.kind}`)}:x`);
  assert.deepEqual(await diffIds(sink, 'amd64'), seed.amdDiffIds, 'amd64 diff_ids');
  if (indexKept) assert.deepEqual(await diffIds(sink, 'arm64'), seed.armDiffIds, 'arm64 diff_ids');

  const top = await topDigest(sink);
  if (indexKept) assert.equal(top, seed.index, 'the index digest is kept');
  else if (!legacy) assert.equal(top, seed.amd, 'the amd64 manifest digest is kept (a docker archive holds one platform)');

  if (sink.kind === 'docker-legacy') return;
  assert.deepEqual(await referrersOf(sink, seed.index), indexKept ? [seed.indexReferrer] : [], "the index's referrer goes where the index goes");
  assert.deepEqual(await referrersOf(sink, seed.amd), legacy ? [] : [seed.amdReferrer], "the amd64 manifest's referrer goes everywhere but a classic archive");
  t.diagnostic(`${source.copy} → ${sink.copy}: top ${top ?? '(classic archive)'}`);
}
