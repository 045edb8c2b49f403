/**
 * Registries that misbehave: a small fake registry on 127.0.0.1 (node:http)
 * serves one image and breaks one thing per case (a URL, a token answer, a
 * header, a number, a blob, a stall), plus the real docker-registry where
 * it matters. Every refused command must end with one `rootfs:` line and
 * its documented exit code, no stack, no raw control character, and the
 * store byte for byte as it was. Timeouts are set small by flag, so no case
 * waits long; nothing here asserts a duration.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { sha256 } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/types.js';
import { atEnd, each, makeTempDir, requireTools, rootfs, waitFor, watching, type RunResult } from './helpers.js';
import { freePort, startRegistry } from './registry-server.js';
import { buildImage, type FixtureImage, makeImage, makeLayer, snapshot, withStore } from './fixtures.js';

/** Answers a request itself (true) or lets the fake registry's normal behaviour answer it (false). */
type Fault = (request: IncomingMessage, response: ServerResponse, body: Buffer) => boolean | Promise<boolean>;

interface FakeRegistry {
  host: string;
  /** Requests seen, as "METHOD path". */
  requests: string[];
}

/**
 * A registry holding `image` as ns/app:1 with pushes accepted (uploads
 * completed by PUT), and `fault` given the first word on every request.
 */
async function fakeRegistry(t: TestContext, image: FixtureImage, fault: Fault = () => false): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>([[image.configDigest, image.config], ...image.layers.map((layer): [string, Buffer] => [layer.descriptor.digest, layer.blob])]);
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const path = (request.url ?? '/').split('?')[0]!;
        requests.push(`${request.method} ${path}`);
        if (await fault(request, response, Buffer.concat(chunks))) return;
        const blob = /^\/v2\/ns\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
        if (path === '/v2/') response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        else if (path === '/v2/ns/app/manifests/1' && request.method === 'GET') response.writeHead(200, { 'content-type': MediaType.ImageManifest }).end(image.manifest);
        else if (blob && request.method === 'GET' && blobs.has(blob[1]!)) response.writeHead(200, { 'content-length': blobs.get(blob[1]!)!.length }).end(blobs.get(blob[1]!));
        else if (request.method === 'POST' && path === '/v2/ns/app/blobs/uploads/') response.writeHead(202, { location: '/upload/1', 'content-length': 0 }).end();
        else if (request.method === 'PATCH' && path === '/upload/1') response.writeHead(202, { location: '/upload/1', range: `0-${chunks.reduce((n, c) => n + c.length, 0) - 1}`, 'content-length': 0 }).end();
        else if (request.method === 'PUT' && (path === '/upload/1' || path.startsWith('/v2/ns/app/manifests/'))) response.writeHead(201, { 'content-length': 0 }).end();
        else response.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}');
      })();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  atEnd(t, () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** A store that already holds an image (so that "unchanged" means something), and its state. */
async function populatedStore(t: TestContext): Promise<{ dir: string; before: string[] }> {
  const work = makeTempDir(t);
  const dir = join(work, 'store');
  await withStore(dir, (store) => buildImage(store, work, { name: 'kept:1' }));
  return { dir, before: snapshot(dir) };
}

/** One line, `rootfs: …`, matching pattern; no stack, no control character but the newline. */
function assertOneLine(result: RunResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('rootfs:'));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
  assert.equal(result.stderr.trimEnd().split('\n').pop(), lines[0], 'the error is the last line');
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack');
  assert.doesNotMatch(result.stderr, /[\x00-\x09\x0b-\x1f\x7f]/, 'no raw control characters');
}

const gzipImage = (): FixtureImage => makeImage([makeLayer({ 'etc/hello': 'hello\n' }, 'gzip')]);
const fast = ['--timeout', '0.5', '--retries', '0'];
const blobPath = /^\/v2\/ns\/app\/blobs\/sha256:/;

async function refusedPull(t: TestContext, fault: Fault, code: number, pattern: RegExp, image = gzipImage(), flags = ['--retries', '0']): Promise<FakeRegistry> {
  const registry = await fakeRegistry(t, image, fault);
  const { dir, before } = await populatedStore(t);
  const result = await rootfs(['--store', dir, 'pull', `${registry.host}/ns/app:1`, ...flags]);
  assertOneLine(result, code, pattern);
  assert.ok(result.stderr.includes(registry.host), 'names the registry');
  assert.deepEqual(snapshot(dir), before, 'the store is as it was');
  return registry;
}

const hostPattern = '127\\.0\\.0\\.1:\\d+';

test('redirects: a Location that is no URL, or not http(s), and redirect loops are one-line registry errors', async (t) => {
  await refusedPull(t, (request, response) => blobPath.test(request.url!) && Boolean(response.writeHead(307, { location: 'http://[::1' }).end()), 7, new RegExp(`^rootfs: ${hostPattern}/ns/app: fetching blob sha256:[a-f0-9]{64}: the registry sent an invalid URL 'http://\\[::1'$`));
  await refusedPull(t, (request, response) => blobPath.test(request.url!) && Boolean(response.writeHead(302, { location: 'file:///etc/passwd' }).end()), 7, /the registry sent an invalid URL 'file:\/\/\/etc\/passwd'$/);
  // A loop on the layer, after the config was fetched and checked: the config must not stay in the store.
  const image = gzipImage();
  const layer = image.layers[0]!.descriptor.digest;
  const registry = await refusedPull(t, (request, response) => request.url!.endsWith(layer) && Boolean(response.writeHead(302, { location: request.url! }).end()), 7, /: too many redirects \(more than 5\)$/, image, ['--retries', '2']);
  assert.equal(registry.requests.filter((line) => line.endsWith(layer)).length, 6, 'a loop is not retried');
});

test('token endpoint: null, a non-object, a token unfit for a header, or a realm that is no URL: one line, exit 7, not retried', async (t) => {
  for (const answer of ['null', '[]', '{"token": 5}', '{"token": "a\\nrootfs: forged"}', 'not json']) {
    let tokenRequests = 0;
    const registry = await refusedPull(
      t,
      (request, response) => {
        if (request.url!.startsWith('/token')) {
          tokenRequests++;
          response.writeHead(200, { 'content-type': 'application/json' }).end(answer);
          return true;
        }
        if (request.headers.authorization) return false;
        response.writeHead(401, { 'www-authenticate': `Bearer realm="http://${request.headers.host}/token",service="fake"` }).end();
        return true;
      },
      7,
      /getting a token from http:\/\/127\.0\.0\.1:\d+: the answer (holds no usable token|is not JSON)/,
      gzipImage(),
      ['--retries', '3'],
    );
    assert.equal(tokenRequests, 1, `${answer}: asked once (${registry.requests.join(', ')})`);
  }
  await refusedPull(t, (request, response) => !request.headers.authorization && Boolean(response.writeHead(401, { 'www-authenticate': 'Bearer realm="http://[::1",service="x"' }).end()), 7, /getting a token: the registry sent an invalid URL 'http:\/\/\[::1'$/);
});

test('timeouts: a registry that never answers, or trickles a byte at a time, fails after --timeout; timeouts are retried', async (t) => {
  const held: ServerResponse[] = [];
  atEnd(t, () => held.forEach((response) => response.destroy()));
  // Accepts, reads the request, never answers.
  await refusedPull(t, (request, response) => request.url!.includes('/manifests/') && (held.push(response), true), 7, /fetching manifest 1: stalled: less than 1024 bytes moved in 0\.5 s \(see --timeout\)$/, gzipImage(), fast);
  // Headers, then one byte now and then, for ever.
  const trickle: Fault = (request, response) => {
    if (!blobPath.test(request.url!)) return false;
    response.writeHead(200, { 'content-length': 1 << 20 });
    const timer = setInterval(() => response.write('x'), 100);
    response.on('close', () => clearInterval(timer));
    return true;
  };
  const registry = await refusedPull(t, trickle, 7, /fetching blob sha256:[a-f0-9]{64}: stalled: less than 1024 bytes moved in 0\.5 s/, gzipImage(), ['--timeout', '0.5', '--retries', '1']);
  assert.equal(registry.requests.filter((line) => blobPath.test(line.split(' ')[1]!)).length, 2, 'a stall is retried');

  // A TCP server that never completes a TLS handshake: the connect timeout.
  const silent = createTcpServer((socket) => held.push({ destroy: () => socket.destroy() } as unknown as ServerResponse));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  atEnd(t, () => silent.close());
  const { dir, before } = await populatedStore(t);
  const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const result = await rootfs(['--store', dir, 'pull', `${host}/ns/app:1`, '--tls-verify=true', ...fast]);
  assertOneLine(result, 7, new RegExp(`^rootfs: ${host}: connecting: no connection within 0\\.5 s \\(see --timeout\\)$`));
  assert.deepEqual(snapshot(dir), before);
  const bad = await rootfs(['--store', dir, 'pull', `${host}/ns/app:1`, '--timeout', 'soon']);
  assertOneLine(bad, 2, /--timeout must be a number of seconds/);
});

test('a refused connection is a fast exit 7 naming the address, not retried; a plain-HTTP registry spoken TLS to, or an unknown certificate, is one line', async (t) => {
  const { dir, before } = await populatedStore(t);
  const port = await freePort();
  const refused = await rootfs(['--store', dir, 'pull', `127.0.0.1:${port}/ns/app:1`]);
  assertOneLine(refused, 7, new RegExp(`^rootfs: 127\\.0\\.0\\.1:${port}: connecting: connection refused \\(127\\.0\\.0\\.1:${port}\\)$`));
  assert.doesNotMatch(refused.stderr, /trying again/);

  const registry = await fakeRegistry(t, gzipImage());
  const tls = await rootfs(['--store', dir, 'pull', `${registry.host}/ns/app:1`, '--tls-verify=true', '--retries', '3']);
  assertOneLine(tls, 7, new RegExp(`^rootfs: ${hostPattern}: connecting: the registry does not speak TLS here; use --plain-http$`));
  assert.doesNotMatch(tls.stderr, /trying again/);
  assert.deepEqual(snapshot(dir), before);

  if (!requireTools(t, 'docker-registry', 'openssl')) return;
  const secure = await startRegistry(t, { tls: true });
  const unknown = await rootfs(['--store', dir, 'pull', `${secure.host}/ns/app:1`, '--tls-verify=true', '--retries', '3']);
  assertOneLine(unknown, 7, /connecting: TLS certificate not trusted \(self-signed certificate\); for a registry with a self-signed certificate use --tls-verify=false$/);
  assert.doesNotMatch(unknown.stderr, /trying again/);
});

test('registry error texts are escaped and bounded: a 404 cannot forge a second line or clear the screen', async (t) => {
  const forged = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'gone\nrootfs: everything is fine\x1b[2J\x1b]0;owned\x07' }] });
  await refusedPull(t, (request, response) => request.url!.includes('/manifests/') && Boolean(response.writeHead(404, { 'content-type': 'application/json' }).end(forged)), 4, /not found \(MANIFEST_UNKNOWN: gone\\x0arootfs: everything is fine\\x1b\[2J\\x1b\]0;owned\\x07\)$/);
  const long = `{"errors":[{"code":"DENIED","message":"${'x'.repeat(100_000)}"}]}`;
  const registry = await fakeRegistry(t, gzipImage(), (request, response) => request.url!.includes('/manifests/') && Boolean(response.writeHead(403).end(long)));
  const { dir } = await populatedStore(t);
  const result = await rootfs(['--store', dir, 'pull', `${registry.host}/ns/app:1`, '--retries', '0']);
  assertOneLine(result, 7, /denied: \{"errors":\[\{"code":"DENIED","message":"x+…$/);
  assert.ok(result.stderr.length < 1000, `bounded: ${result.stderr.length} characters`);
});

test('headers and numbers from the registry are checked: a Docker-Content-Digest that is not the manifest\'s is exit 7', async (t) => {
  const image = gzipImage();
  await refusedPull(t, (request, response) => request.url!.includes('/manifests/') && Boolean(response.writeHead(200, { 'content-type': MediaType.ImageManifest, 'docker-content-digest': sha256('other') }).end(image.manifest)), 7, /fetching manifest 1: the registry's Docker-Content-Digest 'sha256:[a-f0-9]{64}' is not the digest of the manifest it sent/, image);
});

test('a refused pull leaves the store as it was: blobs too long, too short, endless or wrong, a config that is not JSON, a diff_id mismatch, a layer escaping the root', async (t) => {
  const image = gzipImage();
  const layer = image.layers[0]!;
  const serveLayer = (send: (response: ServerResponse) => void): Fault => (request, response) => {
    if (!request.url!.endsWith(layer.descriptor.digest)) return false;
    send(response);
    return true;
  };
  await refusedPull(t, serveLayer((r) => r.writeHead(200).end(Buffer.concat([layer.blob, Buffer.from('more')]))), 3, /the registry sent more than the descriptor's size/, image);
  await refusedPull(t, serveLayer((r) => r.writeHead(200).end(layer.blob.subarray(1))), 3, /size \d+ does not match the expected size/, image);
  // Short of its Content-Length: the connection then idles (a stall), or drops.
  await refusedPull(t, serveLayer((r) => r.writeHead(200, { 'content-length': layer.blob.length }).end(layer.blob.subarray(1))), 7, /fetching blob sha256:[a-f0-9]{64}: stalled: /, image, fast);
  await refusedPull(t, serveLayer((r) => {
    r.writeHead(200, { 'content-length': layer.blob.length });
    r.write(layer.blob.subarray(1), () => r.socket?.destroy());
  }), 7, /fetching blob sha256:[a-f0-9]{64}: connection reset by the registry$/, image);
  await refusedPull(t, serveLayer((r) => {
    r.writeHead(200);
    const timer = setInterval(() => r.write(Buffer.alloc(64 * 1024)), 1);
    r.on('close', () => clearInterval(timer));
  }), 3, /the registry sent more than the descriptor's size/, image);
  const wrong = Buffer.from(layer.blob);
  wrong[wrong.length - 1] ^= 0xff;
  await refusedPull(t, serveLayer((r) => r.writeHead(200).end(wrong)), 3, /digest mismatch/, image);

  const notJson = Buffer.from('not json at all');
  const badConfig: FixtureImage = { ...image, config: notJson, configDigest: sha256(notJson) };
  badConfig.manifest = Buffer.from(JSON.stringify({ ...JSON.parse(image.manifest.toString()), config: { mediaType: MediaType.ImageConfig, digest: badConfig.configDigest, size: notJson.length } }));
  await refusedPull(t, () => false, 3, /config sha256:[a-f0-9]{64}/, badConfig);

  await refusedPull(t, () => false, 3, /diff_id sha256:[a-f0-9]{64} does not match rootfs\.diff_ids\[0\] sha256:[a-f0-9]{64} of config /, makeImage([layer], { diffIds: [sha256('else')] }));
  const escaping = makeLayer({ '../../etc/evil': 'x' }, 'gzip');
  await refusedPull(t, () => false, 3, /\.\.\/\.\.\/etc\/evil/, makeImage([escaping]));
});

test('a damaged layer on the real docker-registry: refused, and the config it fetched first is not kept', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const work = makeTempDir(t);
  const image = await withStore(join(work, 'source'), (store) => buildImage(store, work, { name: 'app:1', content: 'damaged\n' }));
  assert.equal((await rootfs(['--store', join(work, 'source'), 'push', 'app:1', `${registry.host}/ns/app:1`])).code, 0);
  const hex = image.layer.digest.slice('sha256:'.length);
  const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const bytes = readFileSync(data);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(data, bytes);
  const { dir, before } = await populatedStore(t);
  const result = await rootfs(['--store', dir, 'pull', `${registry.host}/ns/app:1`]);
  assertOneLine(result, 3, /digest mismatch/);
  assert.deepEqual(snapshot(dir), before);
});

test('a layer labelled gzip whose bytes are a plain tar (as Docker 20.10 pushes them) is taken with a warning whether or not the store has it; a stored blob is checked like a new one', async (t) => {
  const plain = makeLayer({ 'etc/hello': 'plain\n' });
  const labelled = { ...plain, descriptor: { ...plain.descriptor, mediaType: MediaType.LayerTarGzip } };
  const image = makeImage([labelled]);
  const registry = await fakeRegistry(t, image);
  const { dir } = await populatedStore(t);
  // One text on every path (oci/layer-media.ts).
  const mislabelled = new RegExp(`rootfs: warning: layer ${labelled.descriptor.digest}: media type application/vnd\\.oci\\.image\\.layer\\.v1\\.tar\\+gzip says gzip but the layer is uncompressed; read as its bytes say`, 'g');
  for (const attempt of ['fresh', 'stored']) {
    const result = await rootfs(['--store', dir, 'pull', `${registry.host}/ns/app:1`, `app:${attempt}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr.match(mislabelled)?.length, 1, result.stderr);
  }

  // What reads the stored layer afterwards reads it as its bytes say, as docker does, and says so once.
  const work = makeTempDir(t);
  for (const args of [
    ['export', 'app:fresh', '-o', join(work, 'fs.tar')],
    ['unpack', 'app:fresh', join(work, 'tree')],
    ['squash', 'app:fresh', 'app:flat'],
    ['save', 'app:fresh', '--compression', 'zstd', '-o', join(work, 'zstd.tar')],
  ]) {
    const read = await rootfs(['--store', dir, ...args]);
    assert.equal(read.code, 0, `${args.join(' ')}: ${read.stderr}`);
    assert.equal(read.stderr.match(mislabelled)?.length, 1, `${args.join(' ')}: ${read.stderr}`);
  }
  assert.equal(readFileSync(join(work, 'tree', 'etc', 'hello'), 'utf8'), 'plain\n');

  // The store holds the layer; a manifest whose config says another diff_id is refused as it would be on a fresh store.
  const other = makeImage([labelled], { diffIds: [sha256('else')] });
  const lying = await fakeRegistry(t, other);
  const before = snapshot(dir);
  const refused = await rootfs(['--store', dir, 'pull', `${lying.host}/ns/app:1`, 'app:lie']);
  assertOneLine(refused, 3, /diff_id sha256:[a-f0-9]{64} does not match rootfs\.diff_ids\[0\] sha256:[a-f0-9]{64} of config /);
  assert.deepEqual(snapshot(dir), before);
});

test('push: an upload Location that is no URL, or a Range beyond the blob when resuming, is exit 7 naming the registry', async (t) => {
  const image = gzipImage();
  const work = makeTempDir(t);
  const dir = join(work, 'store');
  await withStore(dir, (store) => buildImage(store, work, { name: 'app:1' }));
  const before = snapshot(dir);

  const badLocation = await fakeRegistry(t, image, (request, response) => request.method === 'POST' && Boolean(response.writeHead(202, { location: 'http://[::1' }).end()));
  const located = await rootfs(['--store', dir, 'push', 'app:1', `${badLocation.host}/ns/app:1`, '--retries', '0']);
  assertOneLine(located, 7, new RegExp(`^rootfs: ${hostPattern}/ns/app: starting an upload: the registry sent an invalid URL 'http://\\[::1'$`));

  // The first upload is cut off; asked how far it got, the registry answers nonsense.
  let cut = false;
  const nonsense = await fakeRegistry(t, image, (request, response) => {
    if (request.method === 'PUT' && request.url!.startsWith('/upload/') && !cut) {
      cut = true;
      request.socket.destroy();
      return true;
    }
    if (request.method === 'GET' && request.url!.startsWith('/upload/')) {
      response.writeHead(204, { range: '0-99999999999999999999', location: '/upload/1' }).end();
      return true;
    }
    return false;
  });
  const lying = await fakeRegistry(t, image, (request, response) => request.method === 'PUT' && request.url!.startsWith('/upload/') && Boolean(response.writeHead(201, { 'docker-content-digest': `sha256:${'f'.repeat(64)}` }).end()));
  const claimed = await rootfs(['--store', dir, 'push', 'app:1', `${lying.host}/ns/app:1`, '--retries', '0']);
  assertOneLine(claimed, 7, /pushing blob sha256:[a-f0-9]{64}: the registry's Docker-Content-Digest 'sha256:f{64}' is not the digest of the blob sent/);

  const ranged = await rootfs(['--store', dir, 'push', 'app:1', `docker://${nonsense.host}/ns/app:1`, '--retries', '2']);
  assertOneLine(ranged, 7, new RegExp(`^rootfs: ${hostPattern}/ns/app: checking an upload: the registry sent an invalid Range '0-99999999999999999999' for a blob of \\d+ bytes$`));
  assert.doesNotMatch(ranged.stderr, /resuming at/);
  assert.deepEqual(snapshot(dir), before);
});

test('docker:// is taken wherever a registry image is (pull, push); import of a URL says to use curl', async (t) => {
  const registry = await fakeRegistry(t, gzipImage());
  const { dir } = await populatedStore(t);
  const pulled = await rootfs(['--store', dir, 'pull', `docker://${registry.host}/ns/app:1`]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.stdout.toString(), `${registry.host}/ns/app:1\n`);
  const pushed = await rootfs(['--store', dir, 'push', `docker://${registry.host}/ns/app:1`]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.ok(registry.requests.includes('PUT /v2/ns/app/manifests/1'), registry.requests.join(', '));
  const noImage = await rootfs(['--store', dir, 'pull', `docker://${registry.host}`]);
  assertOneLine(noImage, 2, /names a registry but no image/);
  const url = await rootfs(['--store', dir, 'import', 'https://example.com/root.tar.gz', 'x:1']);
  assertOneLine(url, 2, /^rootfs: import: reads a file or stdin, not a URL: curl -fsSL 'https:\/\/example\.com\/root\.tar\.gz' \| rootfs import - x:1; usage: rootfs import <file> \[ref\] \[options\]$/);
});

test('blobs a pull has checked wait in the store\'s tmp under its in-use lock: a concurrent gc cannot take them', async (t) => {
  const image = makeImage([makeLayer({ 'a/one': '1' }, 'gzip'), makeLayer({ 'b/two': '2' }, 'gzip')]);
  const [first, second] = image.layers.map((layer) => layer.descriptor.digest);
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  const holding = new EventEmitter();
  const registry = await fakeRegistry(t, image, async (request) => {
    if (!request.url!.endsWith(second!)) return false;
    held = true;
    holding.emit('held');
    await released;
    return false;
  });
  const { dir } = await populatedStore(t);
  const pulling = rootfs(['--store', dir, 'pull', `${registry.host}/ns/app:1`]);
  const tmp = join(dir, '.rootfs', 'tmp');
  const firstBlob = join(dir, 'blobs', 'sha256', first!.slice('sha256:'.length));
  const firstFetched = (): boolean => registry.requests.some((line) => line.endsWith(first!));
  const staged = (): boolean => held && firstFetched() && (readdirSync(tmp).length >= 1 || existsSync(firstBlob));
  await waitFor('the pull to hold its second layer with the first one staged', staged, [each(holding, 'held'), watching(tmp), watching(join(dir, 'blobs', 'sha256'))]);
  assert.equal(existsSync(firstBlob), false, 'not in blobs/ before the whole image is checked');
  const gc = await rootfs(['--store', dir, 'gc', '--no-wait']);
  assert.equal(gc.code, 6, gc.stderr);
  assert.ok(readdirSync(tmp).length >= 1, 'the staged blobs are still there');
  release();
  const pulled = await pulling;
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.deepEqual(readdirSync(tmp), []);
  await withStore(dir, async (store) => {
    for (const digest of [first!, second!, image.configDigest]) assert.ok(await store.hasBlob(digest), digest);
  });
});
