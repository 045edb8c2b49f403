/**
 * push, pull, login and logout against the real docker-registry, checked
 * with skopeo: digests agree both ways, multi-platform indexes, Docker schema
 * 2 images kept as they are, htpasswd auth, a corrupted blob refused on pull,
 * and a registry killed mid-upload.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MediaType, type Descriptor, type Index } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { atEnd, cliPath, makeTempDir, requireTools, rootfs, run } from './helpers.js';
import { remoteDigest, skopeo, startRegistry, startTokenServer } from './registry-server.js';
import { parseReference } from '../src/oci/reference.js';
import { resolveImage } from '../src/store/resolve.js';
import { buildImage, buildMultiPlatformImage, makeImage, makeLayer, withStore } from './fixtures.js';

async function storeEntry(dir: string, name: string): Promise<Descriptor> {
  const entry = await withStore(dir, async (store) => (await store.listImages()).find((image) => image.name === name));
  assert.ok(entry, `${name} is tagged in ${dir}`);
  return entry.descriptor;
}

test('push: skopeo sees the same digest; a second push skips every blob; another repository mounts them', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const image = await withStore(storeDir, (store) => buildImage(store, dir, { name: 'app:1.0' }));

  const first = await rootfs(['--store', storeDir, 'push', 'app:1.0', `${registry.host}/ns/app:1.0`]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.toString(), `1.0: digest: ${image.manifest.digest} size: ${image.manifest.size}\n`);
  assert.match(first.stderr, /: Pushed\n/);
  assert.equal(await remoteDigest(`${registry.host}/ns/app:1.0`), image.manifest.digest);
  const config = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--config', `docker://${registry.host}/ns/app:1.0`)) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, [image.diffId]);

  const again = await rootfs(['--store', storeDir, 'push', 'app:1.0', `${registry.host}/ns/app:1.0`]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stderr.match(/Layer already exists/g)?.length, 2, again.stderr);
  const quiet = await rootfs(['--store', storeDir, '--quiet', 'push', 'app:1.0', `${registry.host}/ns/app:1.0`]);
  assert.equal(quiet.stderr, '');
  assert.equal(quiet.stdout.toString(), `1.0: digest: ${image.manifest.digest} size: ${image.manifest.size}\n`);
  const json = await rootfs(['--store', storeDir, '--json', 'push', 'app:1.0', `${registry.host}/ns/app:1.0`]);
  assert.deepEqual(JSON.parse(json.stdout.toString()), { reference: `${registry.host}/ns/app:1.0`, digest: image.manifest.digest, size: image.manifest.size, mediaType: MediaType.ImageManifest, referrers: 0 });

  // Once the store knows ns/app holds these blobs (a tag on that registry), a push to another repository mounts them.
  assert.equal((await rootfs(['--store', storeDir, 'tag', 'app:1.0', `${registry.host}/ns/app:1.0`])).code, 0);
  const mounted = await rootfs(['--store', storeDir, 'push', `${registry.host}/ns/app:1.0`, `${registry.host}/other/app:2`]);
  assert.equal(mounted.code, 0, mounted.stderr);
  assert.equal(mounted.stderr.match(/Mounted from ns\/app/g)?.length, 2, mounted.stderr);
  assert.equal(await remoteDigest(`${registry.host}/other/app:2`), image.manifest.digest);
});

test('pull: an image skopeo pushed arrives with the same digests; Docker schema 2 stays Docker schema 2', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const source = join(dir, 'source');
  const image = await withStore(source, (store) => buildImage(store, dir, { name: 'app:1.0', content: 'pulled\n' }));
  await skopeo('copy', '--dest-tls-verify=false', `oci:${source}:app:1.0`, `docker://${registry.host}/sk/app:1.0`);
  await skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${source}:app:1.0`, `docker://${registry.host}/sk/docker:1.0`);
  const ociDigest = await remoteDigest(`${registry.host}/sk/app:1.0`);
  const dockerDigest = await remoteDigest(`${registry.host}/sk/docker:1.0`);

  const target = join(dir, 'target');
  const pulled = await rootfs(['--store', target, 'pull', `${registry.host}/sk/app:1.0`]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.stdout.toString(), `${registry.host}/sk/app:1.0\n`);
  const entry = await storeEntry(target, `${registry.host}/sk/app:1.0`);
  assert.equal(entry.digest, ociDigest);
  assert.equal(entry.mediaType, MediaType.ImageManifest);
  await withStore(target, async (store) => {
    const resolved = await resolveImage(store, `${registry.host}/sk/app:1.0`);
    assert.equal(resolved.manifest.config.digest, image.configDigest);
    assert.deepEqual(resolved.manifest.layers.map((layer) => layer.digest), [image.layer.digest]);
    assert.ok(await store.hasBlob(image.layer.digest));
  });

  const renamed = await rootfs(['--store', target, 'pull', `${registry.host}/sk/docker:1.0`, 'local/docker:v2']);
  assert.equal(renamed.code, 0, renamed.stderr);
  assert.match(renamed.stderr, /Already exists/);
  const dockerEntry = await storeEntry(target, 'local/docker:v2');
  assert.equal(dockerEntry.digest, dockerDigest);
  assert.equal(dockerEntry.mediaType, MediaType.DockerManifest);
  // Stored byte for byte as the registry sent it (skopeo's oci: transport itself skips Docker-typed entries, so it cannot be asked).
  const stored = await withStore(target, (store) => store.readJson<{ mediaType: string }>(dockerEntry.digest, dockerEntry.size));
  assert.equal(stored.mediaType, MediaType.DockerManifest);

  const byDigest = await rootfs(['--store', target, 'pull', `${registry.host}/sk/app@${ociDigest}`, 'pinned:1']);
  assert.equal(byDigest.code, 0, byDigest.stderr);
  assert.equal((await storeEntry(target, 'pinned:1')).digest, ociDigest);

  const missing = await rootfs(['--store', target, 'pull', `${registry.host}/sk/absent:1.0`]);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, new RegExp(`^rootfs: ${registry.host.replace(/\./g, '\\.')}/sk/absent: fetching manifest 1\\.0: not found`));
});

test('multi-platform: children go up before the index; pull picks a platform or keeps the whole index', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const { index, amd, arm } = await withStore(storeDir, (store) => buildMultiPlatformImage(store, dir, 'multi:1'));

  const pushed = await rootfs(['--store', storeDir, 'push', 'multi:1', `${registry.host}/ns/multi:1`]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(await remoteDigest(`${registry.host}/ns/multi:1`), index.digest);
  const raw = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/ns/multi:1`)) as Index;
  assert.deepEqual(raw.manifests.map((child) => child.digest), [amd.manifest.digest, arm.manifest.digest]);

  const target = join(dir, 'target');
  const one = await rootfs(['--store', target, 'pull', `${registry.host}/ns/multi:1`, 'arm:1', '--platform', 'linux/arm64']);
  assert.equal(one.code, 0, one.stderr);
  assert.equal((await storeEntry(target, 'arm:1')).digest, arm.manifest.digest);
  const all = await rootfs(['--store', target, 'pull', `${registry.host}/ns/multi:1`, 'multi:all', '--all-platforms']);
  assert.equal(all.code, 0, all.stderr);
  const allEntry = await storeEntry(target, 'multi:all');
  assert.equal(allEntry.digest, index.digest);
  assert.equal(allEntry.mediaType, MediaType.ImageIndex);
  const absent = await rootfs(['--store', target, 'pull', '--platform', 'linux/s390x', `${registry.host}/ns/multi:1`, 'none:1']);
  assert.equal(absent.code, 4);
  assert.match(absent.stderr, /no manifest for platform linux\/s390x \(the index has linux\/amd64, linux\/arm64\/v8\)/);
});

test('htpasswd auth: refused without credentials, accepted after login; logout forgets them', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo', 'htpasswd')) return;
  const registry = await startRegistry(t, { users: { builder: 's3cret pass' } });
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const image = await withStore(storeDir, (store) => buildImage(store, dir, { name: 'app:1.0', content: 'secret\n' }));
  const authFile = join(dir, 'auth', 'auth.json');
  const env = { REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: join(dir, 'docker-config') };
  const dest = `${registry.host}/ns/app:1.0`;

  const anonymous = await rootfs(['--store', storeDir, 'push', 'app:1.0', dest], { env });
  assert.equal(anonymous.code, 7);
  const host = registry.host.replace(/\./g, '\\.');
  assert.match(anonymous.stderr, new RegExp(`^rootfs: ${host}/ns/app: checking blob sha256:[0-9a-f]{64}: authentication required \\(rootfs login ${host}\\)\n$`, 'm'));

  const wrong = await rootfs(['login', registry.host, '-u', 'builder', '--password-stdin'], { env, input: 'wrong\n' });
  assert.equal(wrong.code, 7);
  assert.match(wrong.stderr, /authentication failed: unauthorized/);
  assert.equal(existsSync(authFile), false, 'nothing stored after a failed login');

  const login = await rootfs(['login', registry.host, '-u', 'builder', '--password-stdin'], { env, input: 's3cret pass\n' });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(login.stdout.toString(), 'Login Succeeded\n');
  assert.doesNotMatch(login.stdout.toString() + login.stderr, /s3cret/);
  assert.equal(statSync(authFile).mode & 0o777, 0o600);
  const stored = JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(stored.auths[registry.host]!.auth, 'base64').toString(), 'builder:s3cret pass');

  const pushed = await rootfs(['--store', storeDir, 'push', 'app:1.0', dest], { env });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(JSON.parse(await skopeo('inspect', '--tls-verify=false', '--creds', 'builder:s3cret pass', `docker://${dest}`)).Digest, image.manifest.digest);
  const pulled = await rootfs(['--store', join(dir, 'target'), 'pull', dest], { env });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((await storeEntry(join(dir, 'target'), dest)).digest, image.manifest.digest);

  const logout = await rootfs(['logout', registry.host], { env });
  assert.equal(logout.stdout.toString(), `Removing login credentials for ${registry.host}\n`);
  assert.deepEqual(JSON.parse(readFileSync(authFile, 'utf8')), { auths: {} });
  const afterLogout = await rootfs(['--store', join(dir, 'again'), 'pull', dest], { env });
  assert.equal(afterLogout.code, 7);
  assert.match(afterLogout.stderr, /authentication required/);
  assert.equal((await rootfs(['logout', registry.host], { env })).stdout.toString(), `Not logged in to ${registry.host}\n`);
});

test('pull verifies digests: a blob damaged in the registry is refused and nothing is tagged', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const image = await withStore(storeDir, (store) => buildImage(store, dir, { name: 'app:1.0' }));
  assert.equal((await rootfs(['--store', storeDir, 'push', 'app:1.0', `${registry.host}/ns/app:1.0`])).code, 0);
  const hex = image.layer.digest.slice('sha256:'.length);
  const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const bytes = readFileSync(data);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(data, bytes);

  const target = join(dir, 'target');
  const pulled = await rootfs(['--store', target, 'pull', `${registry.host}/ns/app:1.0`]);
  assert.equal(pulled.code, 3, pulled.stderr);
  assert.match(pulled.stderr, new RegExp(`rootfs: ${registry.host.replace(/\./g, '\\.')}/ns/app@${image.layer.digest}: digest mismatch: expected ${image.layer.digest}, got sha256:`));
  await withStore(target, async (store) => {
    assert.equal(await store.hasBlob(image.layer.digest), false);
    assert.deepEqual(await store.listImages(), []);
  });
});

test('pull checks layers as docker pull does: a diff_id that does not match the config, or tar names escaping the root, are refused and nothing is tagged', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const hostile = makeLayer({ 'etc/ok': 'ok\n', '../../etc/cron.d/evil': '* * * * * root sh\n' }, 'gzip');
  const honest = makeLayer({ 'etc/hello': 'hello\n' }, 'gzip');
  const images = { 'ns/escape:1': makeImage([hostile]), 'ns/lying:1': makeImage([honest], { diffIds: [hostile.diffId] }) };
  await withStore(storeDir, async (store) => {
    for (const [name, image] of Object.entries(images)) {
      for (const blob of [image.layers[0]!.blob, image.config, image.manifest]) await store.putBlob(blob);
      await store.tag(parseReference(name), image.manifestDescriptor);
    }
  });
  for (const name of Object.keys(images)) assert.equal((await rootfs(['--store', storeDir, 'push', name, `${registry.host}/${name}`])).code, 0);

  const target = join(dir, 'target');
  const escape = await rootfs(['--store', target, 'pull', `${registry.host}/ns/escape:1`]);
  assert.equal(escape.code, 3, escape.stderr);
  assert.match(escape.stderr, new RegExp(`(?:^|\n)rootfs: ${registry.host.replace(/\./g, '\\.')}/ns/escape@${hostile.descriptor.digest}: .*member '\\.\\./\\.\\./etc/cron\\.d/evil': '\\.\\.' component\n$`));
  const lying = await rootfs(['--store', target, 'pull', `${registry.host}/ns/lying:1`]);
  assert.equal(lying.code, 3, lying.stderr);
  assert.match(lying.stderr, new RegExp(`/ns/lying@${honest.descriptor.digest}: diff_id ${honest.diffId} does not match rootfs\\.diff_ids\\[0\\] ${hostile.diffId} of config ${images['ns/lying:1'].configDigest}\n$`));
  await withStore(target, async (store) => {
    assert.deepEqual(await store.listImages(), []);
    for (const refused of [hostile, honest]) assert.equal(await store.hasBlob(refused.descriptor.digest), false, 'a layer refused is never stored under its digest, where a later pull would trust it');
  });
});

/**
 * A TCP relay to the registry that, once `cutAfter` bytes have gone through
 * in one direction (requests up to the registry, or answers down from it),
 * stops relaying, runs onCut (kill or restart the registry) and drops every
 * open connection: a registry dying mid-transfer, at a byte count rather
 * than a moment.
 */
async function cuttingRelay(t: TestContext, upstreamPort: number, direction: 'up' | 'down', cutAfter: number, onCut: () => Promise<void>): Promise<{ host: string; wasCut: () => boolean }> {
  const sockets = new Set<Socket>();
  let relayed = 0;
  let cutting = false;
  let cut = false;
  const server = createServer((client) => {
    const upstream = tcpConnect(upstreamPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    const counted = direction === 'up' ? client : upstream;
    counted.on('data', (chunk: Buffer) => {
      relayed += chunk.length;
      if (cutting || relayed < cutAfter) return;
      cutting = true;
      counted.pause();
      void onCut().then(() => {
        for (const socket of sockets) socket.destroy();
        cut = true;
      });
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  atEnd(t, () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, wasCut: () => cut };
}

/** An image whose gzip layer is about 12 MiB of incompressible data. */
function buildBigImage(store: Store, dir: string, name: string): ReturnType<typeof buildImage> {
  return buildImage(store, dir, { name, content: randomBytes(12 << 20).toString('base64') });
}

test('registry killed mid-push: a clear error, and the retried push completes; restarted within the retries, the push goes on by itself', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const image = await withStore(storeDir, (store) => buildBigImage(store, dir, 'big:1'));

  const killed = await startRegistry(t);
  const relay = await cuttingRelay(t, killed.port, 'up', 6 << 20, () => killed.kill());
  const dest = `${relay.host}/ns/big:1`;
  const failed = await rootfs(['--store', storeDir, 'push', 'big:1', dest, '--chunk-size', '1M', '--retries', '2']);
  assert.ok(relay.wasCut(), failed.stderr);
  assert.equal(failed.code, 7, failed.stderr);
  const lastLine = failed.stderr.trim().split('\n').pop()!;
  assert.match(lastLine, new RegExp(`^rootfs: ${relay.host.replace(/\./g, '\\.')}/ns/big: .*(connection reset by the registry|connection refused \\(127\\.0\\.0\\.1:\\d+\\))$`));
  assert.match(failed.stderr, /trying again \(2\/2\)/);

  await killed.restart();
  const retried = await rootfs(['--store', storeDir, 'push', 'big:1', dest, '--chunk-size', '1M']);
  assert.equal(retried.code, 0, retried.stderr);
  assert.equal(await remoteDigest(dest), image.manifest.digest);

  const restarted = await startRegistry(t);
  const relay2 = await cuttingRelay(t, restarted.port, 'up', 6 << 20, () => restarted.restart());
  const dest2 = `${relay2.host}/ns/big:1`;
  const resumed = await rootfs(['--store', storeDir, 'push', 'big:1', dest2, '--chunk-size', '1M', '--retries', '5']);
  assert.ok(relay2.wasCut(), resumed.stderr);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /upload interrupted; (resuming at \S+|the registry lost it, sending it again)/);
  assert.equal(await remoteDigest(dest2), image.manifest.digest);
  const pulled = await rootfs(['--store', join(dir, 'target'), 'pull', dest2]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((await storeEntry(join(dir, 'target'), dest2)).digest, image.manifest.digest);
});

test('TLS: a loopback registry with a self-signed certificate is reached without flags; --tls-verify=true refuses it, --plain-http cannot speak to it', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo', 'openssl')) return;
  const registry = await startRegistry(t, { tls: true });
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const image = await withStore(storeDir, (store) => buildImage(store, dir, { name: 'app:1.0' }));
  const dest = `${registry.host}/ns/app:1.0`;

  const pushed = await rootfs(['--store', storeDir, 'push', 'app:1.0', dest]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(await remoteDigest(dest), image.manifest.digest);

  const verified = await rootfs(['--store', storeDir, 'pull', dest, '--tls-verify=true', '--retries', '0']);
  assert.equal(verified.code, 7);
  assert.match(verified.stderr, new RegExp(`^rootfs: ${registry.host.replace(/\./g, '\\.')}: connecting: TLS certificate not trusted \\(.*\\); for a registry with a self-signed certificate use --tls-verify=false\\n$`));

  const plain = await rootfs(['--store', storeDir, 'pull', dest, '--plain-http', '--retries', '0']);
  assert.equal(plain.code, 7);
  assert.match(plain.stderr, /connecting: the registry answered HTTP 400/);

  const insecure = await rootfs(['--store', join(dir, 'target'), 'pull', dest, '--tls-verify=false']);
  assert.equal(insecure.code, 0, insecure.stderr);
  assert.equal((await storeEntry(join(dir, 'target'), dest)).digest, image.manifest.digest);
});

test('bearer tokens: anonymous tokens grant nothing, login trades credentials for tokens scoped to each repository', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo', 'openssl')) return;
  const token = await startTokenServer(t, { builder: 'tok3n' });
  const registry = await startRegistry(t, { token });
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const image = await withStore(storeDir, (store) => buildImage(store, dir, { name: 'app:1.0' }));
  const env = { REGISTRY_AUTH_FILE: join(dir, 'auth.json') };
  const dest = `${registry.host}/ns/app:1.0`;

  const anonymous = await rootfs(['--store', storeDir, 'push', 'app:1.0', dest], { env });
  assert.equal(anonymous.code, 7);
  assert.match(anonymous.stderr, /authentication required/);
  assert.ok(token.requests.every((request) => request.user === undefined));

  const wrong = await rootfs(['login', registry.host, '-u', 'builder', '--password-stdin'], { env, input: 'nope' });
  assert.equal(wrong.code, 7);
  assert.match(wrong.stderr, /authentication failed: the token server refused the credentials/);
  const login = await rootfs(['login', registry.host, '-u', 'builder', '--password-stdin'], { env, input: 'tok3n' });
  assert.equal(login.code, 0, login.stderr);

  const pushed = await rootfs(['--store', storeDir, 'push', 'app:1.0', dest], { env });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.ok(token.requests.some((request) => request.user === 'builder' && request.scopes.includes('repository:ns/app:pull,push')), JSON.stringify(token.requests));
  const pulled = await rootfs(['--store', join(dir, 'target'), 'pull', dest], { env });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((await storeEntry(join(dir, 'target'), dest)).digest, image.manifest.digest);
  assert.ok(token.requests.some((request) => request.user === 'builder' && request.scopes.length === 1 && request.scopes[0] === 'repository:ns/app:pull'));
});

test('registry lost mid-pull: a clear error and nothing half-stored; restarted within the retries, the pull fetches the blob again', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const image = await withStore(join(dir, 'source'), (store) => buildBigImage(store, dir, 'big:1'));
  assert.equal((await rootfs(['--store', join(dir, 'source'), 'push', 'big:1', `${registry.host}/ns/big:1`])).code, 0);

  const target = join(dir, 'target');
  const killing = await cuttingRelay(t, registry.port, 'down', 6 << 20, () => registry.kill());
  const failed = await rootfs(['--store', target, 'pull', `${killing.host}/ns/big:1`, '--retries', '1']);
  assert.ok(killing.wasCut(), failed.stderr);
  assert.equal(failed.code, 7, failed.stderr);
  assert.match(failed.stderr.trim().split('\n').pop()!, new RegExp(`^rootfs: ${killing.host.replace(/\./g, '\\.')}/ns/big: fetching blob ${image.layer.digest}: (connection reset by the registry|connection refused \\(127\\.0\\.0\\.1:\\d+\\))$`));
  await withStore(target, async (store) => {
    assert.equal(await store.hasBlob(image.layer.digest), false);
    assert.deepEqual(await store.listImages(), []);
  });
  assert.deepEqual(readdirSync(join(target, '.rootfs', 'tmp')), [], 'no temp files left');

  await registry.restart();
  const restarting = await cuttingRelay(t, registry.port, 'down', 6 << 20, () => registry.restart());
  const pulled = await rootfs(['--store', target, 'pull', `${restarting.host}/ns/big:1`, 'big:1']);
  assert.ok(restarting.wasCut(), pulled.stderr);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stderr, /trying again \(1\/5\)/);
  assert.equal((await storeEntry(target, 'big:1')).digest, image.manifest.digest);
  await withStore(target, async (store) => assert.equal((await store.readBlob(image.layer.digest, image.layer.size)).length, image.layer.size));
});

test('push refuses an image whose layer is missing from the store or damaged there, and the registry never gets the image', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const dir = makeTempDir(t);
  const storeDir = join(dir, 'store');
  const { image, blobPath } = await withStore(storeDir, async (store) => {
    const image = await buildImage(store, dir, { name: 'app:1.0' });
    return { image, blobPath: store.blobPath(image.layer.digest) };
  });
  const saved = readFileSync(blobPath);

  rmSync(blobPath);
  const missing = await rootfs(['--store', storeDir, 'push', 'app:1.0', `${registry.host}/ns/app:1.0`]);
  assert.equal(missing.code, 4);
  assert.equal(missing.stderr.trim().split('\n').pop(), `rootfs: cannot push ${registry.host}/ns/app:1.0: blob ${image.layer.digest} is not in the store ${storeDir}`);

  const damaged = Buffer.from(saved);
  damaged[damaged.length - 1] ^= 0xff;
  writeFileSync(blobPath, damaged);
  const corrupt = await rootfs(['--store', storeDir, 'push', 'app:1.0', `${registry.host}/ns/app:1.0`]);
  assert.equal(corrupt.code, 3, corrupt.stderr);
  assert.match(corrupt.stderr, new RegExp(`rootfs: ${blobPath}: digest mismatch: expected ${image.layer.digest}, got sha256:`));
  const inspect = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/ns/app:1.0`]);
  assert.notEqual(inspect.code, 0);
  assert.match(inspect.stderr, /manifest unknown/);
});

test('an interrupted copy to a registry says what that registry already received (harmless, kept there), as push does', { timeout: 120_000 }, async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const from = await startRegistry(t);
  const to = await startRegistry(t);
  const dir = makeTempDir(t);
  const source = join(dir, 'source');
  await withStore(source, (store) => buildBigImage(store, dir, 'big:1'));
  const pushed = await rootfs(['--store', source, 'push', 'big:1', `${from.host}/ns/big:1`]);
  assert.equal(pushed.code, 0, pushed.stderr);
  let child: ChildProcess | undefined;
  // The config goes up first, then the layer: 6 MiB into the layer, the relay holds it and the copy is interrupted.
  const relay = await cuttingRelay(t, to.port, 'up', 6 << 20, async () => {
    child!.kill('SIGINT');
    await once(child!, 'close');
  });
  child = spawn(process.execPath, [cliPath, 'copy', `docker://${from.host}/ns/big:1`, `docker://${relay.host}/ns/big:1`], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ROOTFS_STORE: join(dir, 'user-store') } });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 130, stderr);
  const host = relay.host.replace(/\./g, '\\.');
  assert.match(stderr, new RegExp(`^rootfs: copy interrupted by SIGINT; already sent to ${host}: 1 blob \\([\\d.]+[KM]?i?B\\) and no tag; the registry keeps the blobs, which is harmless`, 'm'));
  assert.doesNotMatch(stderr, /nothing was kept/);
});
