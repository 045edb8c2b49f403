/**
 * rootfs copy between transports, checked by skopeo both ways: what skopeo
 * writes, copy reads, and what copy writes, skopeo reads, with the same
 * diff_ids (and manifest digests where the format keeps them); a copy
 * between two non-store transports never touches the user's store; the
 * referrers go along through OCI layouts, the registry and the store.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { digestHex } from '../src/oci/digest.js';
import type { Index } from '../src/oci/types.js';
import { makeTempDir, requireTools, rootfs, run } from './helpers.js';
import { writeKeys } from './trust-fixture.js';
import { skopeo, startRegistry } from './registry-server.js';
import { buildImage, buildMultiPlatformImage, buildReferrer, withStore } from './fixtures.js';
import { hostPlatform } from '../src/oci/platform.js';

async function cli(env: Record<string, string>, ...args: string[]): Promise<string> {
  const result = await rootfs(args, { env });
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.toString();
}

async function diffIds(address: string): Promise<string[]> {
  return (JSON.parse(await skopeo('inspect', '--config', address)) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
}

test('copy docker-archive → oci and oci → docker-archive, each checked by skopeo; the user store is never opened', async (t) => {
  if (!requireTools(t, 'skopeo')) return;
  const work = makeTempDir(t);
  const source = join(work, 'source-store');
  const { manifest, diffId } = await withStore(source, (store) => buildImage(store, work, { name: 'app:1' }));
  // The user's store, which a copy between archives must not create or touch.
  const env = { ROOTFS_STORE: join(work, 'user-store') };
  const layout = join(work, 'layout');
  await cli(env, 'copy', '--store', source, 'rootfs:app:1', `oci:${layout}:app`);
  assert.equal((JSON.parse(await skopeo('inspect', `oci:${layout}:app`)) as { Digest: string }).Digest, manifest.digest, 'the manifest digest is kept');

  // skopeo writes a docker-archive; copy reads it back into an OCI layout, which skopeo reads.
  const skopeoArchive = join(work, 'skopeo.tar');
  await skopeo('copy', `oci:${layout}:app`, `docker-archive:${skopeoArchive}:app:1`);
  const fromSkopeo = join(work, 'from-skopeo');
  await cli(env, 'copy', `docker-archive:${skopeoArchive}`, `oci:${fromSkopeo}:app`);
  assert.deepEqual(await diffIds(`oci:${fromSkopeo}:app`), [diffId]);

  // copy writes a docker-archive; skopeo reads it.
  const ours = join(work, 'ours.tar');
  const copied = JSON.parse(await cli(env, 'copy', '--json', `oci:${layout}:app`, `docker-archive:${ours}:app:1`)) as { images: Array<{ name: string }> };
  assert.deepEqual(copied.images.map((image) => image.name), ['app:1']);
  assert.deepEqual(await diffIds(`docker-archive:${ours}`), [diffId]);
  const back = join(work, 'back');
  await skopeo('copy', `docker-archive:${ours}`, `oci:${back}:app`);
  assert.deepEqual(await diffIds(`oci:${back}:app`), [diffId]);

  assert.equal(existsSync(env.ROOTFS_STORE), false, 'the user store was not created');
});

test('copy carries referrers: store → oci → registry (fallback tag) → store; --no-referrers leaves them out', async (t) => {
  if (!requireTools(t, 'skopeo', 'docker-registry')) return;
  const registry = await startRegistry(t);
  const work = makeTempDir(t);
  const source = join(work, 'source-store');
  const { image, signature } = await withStore(source, async (store) => {
    const { manifest } = await buildImage(store, work, { name: 'app:1' });
    return { image: manifest, signature: await buildReferrer(store, manifest) };
  });
  const env = { ROOTFS_STORE: join(work, 'user-store') };
  const layout = join(work, 'layout');
  await cli(env, 'copy', '--store', source, 'rootfs:app:1', `oci:${layout}:app`);
  const copied = JSON.parse(await cli(env, 'copy', '--json', '--tls-verify=false', `oci:${layout}:app`, `docker://${registry.host}/ns/app:1`)) as { referrers: number };
  assert.equal(copied.referrers, 1);
  assert.equal(existsSync(env.ROOTFS_STORE), false, 'a copy between an archive and a registry leaves the user store alone');
  const fallback = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/ns/app:sha256-${digestHex(image.digest)}`)) as Index;
  assert.deepEqual(fallback.manifests.map((entry) => entry.digest), [signature.digest]);

  const fresh = join(work, 'fresh');
  await cli(env, 'copy', '--store', fresh, '--tls-verify=false', `docker://${registry.host}/ns/app:1`, 'rootfs:app:1');
  assert.deepEqual(await withStore(fresh, async (store) => (await store.referrers(image.digest)).map((entry) => entry.digest)), [signature.digest]);

  const bare = join(work, 'bare');
  await cli(env, 'copy', '--no-referrers', `oci:${layout}:app`, `oci:${bare}:app`);
  assert.equal((JSON.parse(await skopeo('inspect', '--raw', `oci:${bare}:app`)) as { layers: unknown[] }).layers.length, 1);
  const index = JSON.parse(readFileSync(join(bare, 'index.json'), 'utf8')) as Index;
  assert.deepEqual(index.manifests.map((entry) => entry.digest), [image.digest]);
});

test('copy docker:// → rootfs: takes this machine\'s platform by default, every platform with --all-platforms (as pull and load -i docker://); both flags refused', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const work = makeTempDir(t);
  const source = join(work, 'source');
  const { index, amd, arm } = await withStore(source, (store) => buildMultiPlatformImage(store, work, 'multi:1'));
  const env = { ROOTFS_STORE: join(work, 'user-store') };
  await cli(env, 'push', '--store', source, '--tls-verify=false', 'multi:1', `${registry.host}/ns/multi:1`);
  const here = hostPlatform().architecture === 'arm64' ? arm : amd;
  const entry = async (dir: string, name: string): Promise<string | undefined> => withStore(dir, async (store) => (await store.listImages()).find((image) => image.name === name)?.descriptor.digest);

  const one = join(work, 'one');
  await cli(env, 'copy', '--store', one, '--tls-verify=false', `docker://${registry.host}/ns/multi:1`, 'rootfs:multi:1');
  assert.equal(await entry(one, 'multi:1'), here.manifest.digest, "this machine's manifest, not the index");
  const all = join(work, 'all');
  await cli(env, 'copy', '--store', all, '--tls-verify=false', '--all-platforms', `docker://${registry.host}/ns/multi:1`, 'rootfs:multi:1');
  assert.equal(await entry(all, 'multi:1'), index.digest, 'the index, with every platform');
  await withStore(all, async (store) => assert.ok((await store.hasBlob(amd.layer.digest)) && (await store.hasBlob(arm.layer.digest))));
  const loaded = join(work, 'loaded');
  await cli(env, 'load', '--store', loaded, '--tls-verify=false', '--all-platforms', '-i', `docker://${registry.host}/ns/multi:1`);
  assert.equal(await entry(loaded, `${registry.host}/ns/multi:1`), index.digest, 'load -i docker:// --all-platforms keeps the index');

  const both = await rootfs(['copy', '--store', join(work, 'both'), '--platform', 'linux/amd64', '--all-platforms', `docker://${registry.host}/ns/multi:1`, 'rootfs:multi:1'], { env });
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /^rootfs: copy: --platform linux\/amd64 and --all-platforms: give one/);
  assert.equal(existsSync(join(work, 'both')), false, 'nothing was stored');
  const docker = await rootfs(['copy', '--all-platforms', `docker://${registry.host}/ns/multi:1`, `docker-archive:${join(work, 'multi.tar')}:multi:1`], { env });
  assert.equal(docker.code, 2, docker.stderr);
  assert.match(docker.stderr, /^rootfs: copy: --all-platforms: a docker-archive archive holds one platform per image/);
  assert.equal(existsSync(join(work, 'multi.tar')), false);
});

test('copy docker:// → docker:// is the one copy between the two registries: nothing staged on this host, the digest and the signature arrive, --require-signed is checked before the tag', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const from = await startRegistry(t);
  const to = await startRegistry(t);
  const work = makeTempDir(t);
  const source = join(work, 'source');
  const { manifest } = await withStore(source, (store) => buildImage(store, work, { name: 'app:1' }));
  const site = writeKeys(work, 'site');
  const other = writeKeys(work, 'other');
  await cli({}, 'sign', '--store', source, 'app:1', '--key', site.key);
  await cli({}, 'push', '--store', source, 'app:1', `${from.host}/ns/app:1`);
  // A private store would be made under TMPDIR; here TMPDIR cannot hold one, so the copy must not need it.
  writeFileSync(join(work, 'not-a-directory'), '');
  const env = { ROOTFS_STORE: join(work, 'user-store'), TMPDIR: join(work, 'not-a-directory', 'tmp') };

  const copied = JSON.parse(await cli(env, 'copy', '--json', '--require-signed', site.pub, `docker://${from.host}/ns/app:1`, `docker://${to.host}/site/app:2`)) as { images: Array<{ name: string; digest: string }>; referrers: number };
  assert.deepEqual(copied.images, [{ name: `${to.host}/site/app:2`, digest: manifest.digest }]);
  assert.equal(copied.referrers, 1);
  assert.equal((JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${to.host}/site/app:2`)) as { Digest: string }).Digest, manifest.digest);
  const fallback = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${to.host}/site/app:sha256-${digestHex(manifest.digest)}`)) as Index;
  assert.equal(fallback.manifests.length, 1, 'the signature is listed for its subject at the destination');
  assert.equal(existsSync(env.ROOTFS_STORE), false, 'the user store is never opened');

  const refused = await rootfs(['copy', '--require-signed', other.pub, `docker://${from.host}/ns/app:1`, `docker://${to.host}/site/app:3`], { env });
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr.trim().split('\n').pop()!, /^rootfs: .*(another key|not signed by)/i);
  const tag = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${to.host}/site/app:3`]);
  assert.notEqual(tag.code, 0, 'no tag was put: the policy ran before the names');
});

test('copy docker:// → an archive is the one copy straight into it: --require-signed reads the signature from the registry, the user store is never opened, a refusal leaves no file', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const work = makeTempDir(t);
  const source = join(work, 'source');
  const { manifest, diffId } = await withStore(source, (store) => buildImage(store, work, { name: 'app:1' }));
  const site = writeKeys(work, 'site');
  const other = writeKeys(work, 'other');
  await cli({}, 'sign', '--store', source, 'app:1', '--key', site.key);
  await cli({}, 'push', '--store', source, 'app:1', `${registry.host}/ns/app:1`);
  // Nothing may be made under TMPDIR: here it cannot hold anything.
  writeFileSync(join(work, 'not-a-directory'), '');
  const env = { ROOTFS_STORE: join(work, 'user-store'), TMPDIR: join(work, 'not-a-directory', 'tmp') };

  const archive = join(work, 'app.tar');
  const copied = JSON.parse(await cli(env, 'copy', '--json', '--tls-verify=false', '--require-signed', site.pub, `docker://${registry.host}/ns/app:1`, `oci-archive:${archive}:app`)) as { images: Array<{ name: string; digest: string }>; referrers: number };
  assert.deepEqual(copied.images.map((image) => image.digest), [manifest.digest]);
  assert.equal(copied.referrers, 1, 'the signature travels with its image');
  // The signature is an index.json entry too: skopeo is told which image to read.
  assert.deepEqual(await diffIds(`oci-archive:${archive}:app`), [diffId]);
  assert.equal(existsSync(env.ROOTFS_STORE), false, 'the user store is never opened');

  const docker = join(work, 'app-docker.tar');
  await cli(env, 'copy', '--tls-verify=false', `docker://${registry.host}/ns/app:1`, `docker-archive:${docker}`);
  assert.deepEqual(await diffIds(`docker-archive:${docker}`), [diffId]);
  // A legacy archive has no place for the signature: said, and nothing of it written as a layer.
  const legacy = join(work, 'app-legacy.tar');
  const legacyCopy = await rootfs(['copy', '--tls-verify=false', `docker://${registry.host}/ns/app:1`, `docker-legacy:${legacy}`], { env });
  assert.equal(legacyCopy.code, 0, legacyCopy.stderr);
  assert.match(legacyCopy.stderr, /1 referrer left out: docker-legacy archives cannot hold them/);
  const members = (await run('tar', ['-tf', legacy])).stdout.toString().split('\n');
  assert.equal(members.filter((name) => name.endsWith('/layer.tar')).length, 1, members.join(' '));

  const refusedPath = join(work, 'refused.tar');
  const refused = await rootfs(['copy', '--tls-verify=false', '--require-signed', other.pub, `docker://${registry.host}/ns/app:1`, `oci-archive:${refusedPath}`], { env });
  assert.equal(refused.code, 3, refused.stderr);
  assert.equal(existsSync(refusedPath), false, 'a refused copy leaves no archive');
});
