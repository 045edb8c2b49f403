/**
 * One walk of an image graph (oci/walk.ts) on every path: an index whose
 * child is an index (index → index → manifest) is pushed children first,
 * pulled whole (--all-platforms) or through to this machine's manifest,
 * saved and loaded with every digest kept; an index chain deeper than
 * maxIndexDepth is refused with exit 3 naming the document, on push as on
 * load. And a source-level rule: outside oci/walk.ts nothing reads the
 * children a parsed index lists.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../src/oci/digest.js';
import { maxIndexDepth } from '../src/oci/layout.js';
import { hostPlatform } from '../src/oci/platform.js';
import { parseReference } from '../src/oci/reference.js';
import { MediaType, type Descriptor, type Index } from '../src/oci/types.js';
import type { Store } from '../src/store/store.js';
import { makeTempDir, projectRoot, requireTools, rootfs, runOk } from './helpers.js';
import { skopeo, startRegistry } from './registry-server.js';
import { buildMultiPlatformImage, buildReferrer, withStore } from './fixtures.js';

/** An index listing children, stored, tagged name when given. */
async function putIndex(store: Store, children: Descriptor[], name?: string): Promise<Descriptor> {
  const document: Index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: children };
  const index: Descriptor = { mediaType: MediaType.ImageIndex, ...(await store.putBlob(Buffer.from(JSON.stringify(document)))) };
  if (name !== undefined) await store.tag(parseReference(name), index);
  return index;
}

async function entry(dir: string, name: string): Promise<string | undefined> {
  return withStore(dir, async (store) => (await store.listImages()).find((image) => image.name === name)?.descriptor.digest);
}

async function ok(args: string[]): Promise<string> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return result.stderr;
}

test('a nested index (index → index → manifest) is pushed, pulled, saved and loaded with its digests', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo', 'tar')) return;
  const registry = await startRegistry(t);
  const work = makeTempDir(t);
  const source = join(work, 'source');
  const { outer, inner, amd, arm, signature } = await withStore(source, async (store) => {
    const { index: inner, amd, arm } = await buildMultiPlatformImage(store, work, 'multi:1');
    // A referrer of a manifest two indexes down travels with the image as one of the top index's would.
    return { outer: await putIndex(store, [inner], 'nested:1'), inner, amd, arm, signature: await buildReferrer(store, amd.manifest) };
  });
  const remote = `${registry.host}/ns/nested:1`;

  await ok(['--store', source, 'push', '--tls-verify=false', 'nested:1', remote]);
  assert.equal(sha256(Buffer.from(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${remote}`))), outer.digest);
  assert.equal(sha256(Buffer.from(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/ns/nested@${inner.digest}`))), inner.digest);

  const all = join(work, 'all');
  await ok(['--store', all, 'pull', '--tls-verify=false', '--all-platforms', remote, 'nested:1']);
  assert.equal(await entry(all, 'nested:1'), outer.digest);
  await withStore(all, async (store) => {
    for (const blob of [inner, amd.manifest, arm.manifest, amd.layer, arm.layer]) assert.ok(await store.hasBlob(blob.digest), `${blob.digest} pulled`);
    assert.deepEqual((await store.referrers(amd.manifest.digest)).map((entry) => entry.digest), [signature.digest], "the nested manifest's referrer was pushed and pulled");
  });
  const one = join(work, 'one');
  await ok(['--store', one, 'pull', '--tls-verify=false', remote, 'nested:1']);
  assert.equal(await entry(one, 'nested:1'), (hostPlatform().architecture === 'arm64' ? arm : amd).manifest.digest, "through both indexes to this machine's manifest");

  const archive = join(work, 'nested.tar');
  await ok(['--store', all, 'save', 'nested:1', '-o', `oci-archive:${archive}`]);
  const members = (await runOk('tar', ['-tf', archive])).stdout.toString().split('\n');
  for (const blob of [outer, inner, amd.manifest, arm.manifest, amd.layer, arm.layer, signature]) assert.ok(members.includes(`blobs/sha256/${blob.digest.slice(7)}`), `${blob.digest} saved`);
  const loaded = join(work, 'loaded');
  await ok(['--store', loaded, 'load', '-i', `oci-archive:${archive}`, '--tag', 'nested:1']);
  assert.equal(await entry(loaded, 'nested:1'), outer.digest);
  assert.deepEqual(await withStore(loaded, async (store) => (await store.referrers(amd.manifest.digest)).map((referrer) => referrer.digest)), [signature.digest]);

  // A layer rewritten on the way rewrites the manifest, the inner index and the outer one: each parent after its children.
  const zstd = join(work, 'zstd.tar');
  await ok(['--store', all, 'save', 'nested:1', '--compression', 'zstd', '-o', `oci-archive:${zstd}`]);
  const member = async (digest: string): Promise<Index> => JSON.parse((await runOk('tar', ['-xOf', zstd, `blobs/sha256/${digest.slice(7)}`])).stdout.toString()) as Index;
  const top = (JSON.parse((await runOk('tar', ['-xOf', zstd, 'index.json'])).stdout.toString()) as Index).manifests[0]!;
  assert.notEqual(top.digest, outer.digest);
  const rewrittenInner = (await member(top.digest)).manifests[0]!;
  assert.notEqual(rewrittenInner.digest, inner.digest);
  assert.equal((await member(rewrittenInner.digest)).manifests.length, 2);
  const reloaded = join(work, 'reloaded');
  await ok(['--store', reloaded, 'load', '-i', `oci-archive:${zstd}`, '--tag', 'nested:zstd']);
  assert.equal(await entry(reloaded, 'nested:zstd'), top.digest);
});

test(`an index chain deeper than ${maxIndexDepth} is refused with exit 3 naming the document, on push and on save`, async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const work = makeTempDir(t);
  const source = join(work, 'source');
  const chain = await withStore(source, async (store) => {
    const { index } = await buildMultiPlatformImage(store, work, 'multi:1');
    const chain = [index];
    for (let depth = 0; depth < maxIndexDepth; depth++) chain.push(await putIndex(store, [chain[chain.length - 1]!]));
    await store.tag(parseReference('deep:1'), chain[chain.length - 1]!);
    return chain;
  });
  // The deepest index the walk may open is at maxIndexDepth - 1: the one below it is named.
  const named = chain[0]!;
  const pushed = await rootfs(['--store', source, 'push', '--tls-verify=false', 'deep:1', `${registry.host}/ns/deep:1`]);
  assert.equal(pushed.code, 3, pushed.stderr);
  assert.match(pushed.stderr, new RegExp(`^rootfs: \\S*${named.digest.slice(7)}: indexes nested more than ${maxIndexDepth} deep\\n$`, 'm'));
  const saved = await rootfs(['--store', source, 'save', 'deep:1', '-o', `oci-archive:${join(work, 'deep.tar')}`]);
  assert.equal(saved.code, 3, saved.stderr);
  assert.match(saved.stderr, new RegExp(`^rootfs: \\S*${named.digest.slice(7)}: indexes nested more than ${maxIndexDepth} deep\\n$`, 'm'));
});

/** The lines of src/ (but skipFile) that match pattern, counted per file (relative to src/). */
function countsIn(pattern: RegExp, skipFile: string): Map<string, number> {
  const srcDir = join(projectRoot, 'src');
  const counts = new Map<string, number>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts') && relative(srcDir, path) !== skipFile) {
        const found = readFileSync(path, 'utf8').split('\n').filter((line) => pattern.test(line)).length;
        if (found > 0) counts.set(relative(srcDir, path), found);
      }
    }
  };
  visit(srcDir);
  return counts;
}

/**
 * Where `.manifests` may appear outside oci/walk.ts, and why: none of these
 * reads the documents an index lists. A new use makes this fail: a walk of
 * an index's children belongs to walkImage (a `children` option, a reader),
 * and anything else is added here with its reason.
 */
const manifestsAllowed: Record<string, { lines: number; why: string }> = {
  'oci/validate.ts': { lines: 2, why: 'parseIndex checks the document itself: a manifests array of descriptors' },
  'engine/convert.ts': { lines: 2, why: "an index rewritten from its children's new digests, over the documents the copy's walk read, children first" },
  'transports/archive-destination.ts': { lines: 5, why: "index.json's entries being written: an existing layout's kept, the images' and the referrers' added" },
  'transports/archive-members.ts': { lines: 1, why: "index.json's entries: the roots handed to walkImage" },
  'transports/oci-layout.ts': { lines: 2, why: "index.json entries: the images and their names, shared names refused; each image is then read by the copy's walk" },
  'transports/archive-source.ts': { lines: 1, why: 'index.json entries that are referrers, grouped by subject for the copy\'s referrer closure' },
  'transports/load.ts': { lines: 1, why: "refuseSeveralImages counts index.json's entries" },
  'registry/referrers.ts': { lines: 3, why: 'a referrers index: the listing of a subject\'s referrers, read and written as a list, not a graph' },
  'store/gc.ts': { lines: 1, why: "index.json's entries: the roots handed to walkImage" },
  'store/store.ts': { lines: 16, why: "index.json's entries: names, referrers, removal" },
};

test('one walk: outside oci/walk.ts no source reads the children a parsed index lists (an allow-list says why for each use of .manifests)', () => {
  const found = Object.fromEntries(countsIn(/\.manifests\b/, 'oci/walk.ts'));
  assert.deepEqual(found, Object.fromEntries(Object.entries(manifestsAllowed).map(([file, { lines }]) => [file, lines])));
});

test('retries around whole transfers: withRetries runs in the client (connecting; each manifest get, put and referrers listing) and in a registry end of the copy (a blob fetched, checked and kept; a blob pushed), nowhere else', () => {
  const found = Object.fromEntries(countsIn(/withRetries\(/, ''));
  assert.deepEqual(found, { 'registry/client.ts': 4, 'registry/image-ends.ts': 2 });
});
