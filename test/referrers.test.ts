/**
 * OCI 1.1 referrers (signatures, SBOMs: manifests whose subject is an image)
 * travel with their image: save to OCI layouts and Docker 25+ archives lists
 * them as untagged entries with their artifactType, load records them in the
 * store, push lists them under the referrers fallback tag of a registry
 * without the referrers API (docker-registry 2.8), pull brings them back;
 * --no-referrers leaves them out, docker-legacy says it cannot hold them.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadArchive } from '../src/transports/load.js';
import { parseReference } from '../src/oci/reference.js';
import { pullImage } from '../src/registry/pull.js';
import { digestHex, sha256 } from '../src/oci/digest.js';
import { Annotation, MediaType, type Descriptor, type Digest, type Index } from '../src/oci/types.js';
import { atEnd, makeTempDir, requireTools, rootfs, run } from './helpers.js';
import { skopeo, startRegistry } from './registry-server.js';
import { buildImage, buildReferrer, makeImage, makeLayer, ociMembers, tarOf, withStore, type TarMember as Member } from './fixtures.js';

interface Signed {
  store: string;
  work: string;
  image: Descriptor;
  signature: Descriptor;
  /** A signature of the SBOM, which is a referrer of the image: referrers of referrers go too. */
  sbom: Descriptor;
  sbomSignature: Descriptor;
}

/** The one warning of the referrer bounds (oci/referrer-closure.ts), whatever holds the referrers: a registry, an archive, a store. */
const tooDeep = /^rootfs: warning: \S+: referrers of sha256:[0-9a-f]{64} left out: a chain of referrers deeper than 4$/m;
const tooMany = /^rootfs: warning: \S+: more than 1000 referrers; the rest are left out$/m;

async function signedStore(t: TestContext): Promise<Signed> {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  return withStore(store, async (opened) => {
    const { manifest: image } = await buildImage(opened, work, { name: 'app:1' });
    const signature = await buildReferrer(opened, image);
    const sbom = await buildReferrer(opened, image, { artifactType: 'application/spdx+json', payload: 'sbom' });
    const sbomSignature = await buildReferrer(opened, sbom, { payload: 'sbom signature' });
    return { store, work, image, signature, sbom, sbomSignature };
  });
}

async function cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return { stdout: result.stdout.toString(), stderr: result.stderr };
}

function layoutIndex(dir: string): Index {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
}

async function storedReferrers(store: string, subject: Digest): Promise<Digest[]> {
  return withStore(store, async (opened) => (await opened.referrers(subject)).map((entry) => entry.digest));
}

async function imageNames(store: string): Promise<string[]> {
  return JSON.parse((await cli('images', '--store', store, '--json')).stdout).map((image: { name: string }) => image.name);
}

test('save oci lists the referrers untagged with their artifactType; skopeo and umoci still read the image; load records them, hidden from images', async (t) => {
  if (!requireTools(t, 'skopeo', 'umoci')) return;
  const signed = await signedStore(t);
  const layout = join(signed.work, 'layout');
  const saved = JSON.parse((await cli('save', 'app:1', '--store', signed.store, '-o', `oci:${layout}:app`, '--json')).stdout) as { referrers: number };
  assert.equal(saved.referrers, 3);

  const index = layoutIndex(layout);
  const entry = (digest: Digest): Descriptor | undefined => index.manifests.find((candidate) => candidate.digest === digest);
  for (const referrer of [signed.signature, signed.sbom, signed.sbomSignature]) {
    const listed = entry(referrer.digest);
    assert.ok(listed, `referrer ${referrer.digest} in index.json`);
    assert.equal(listed.artifactType, referrer.artifactType);
    assert.equal(listed.annotations?.['org.opencontainers.image.ref.name'], undefined, 'untagged');
    assert.equal(listed.annotations?.['io.rootfs.subject'], undefined, "the store's own mark stays in the store");
  }
  const inspected = JSON.parse(await skopeo('inspect', `oci:${layout}:app`)) as { Digest: string };
  assert.equal(inspected.Digest, signed.image.digest);
  const bundle = join(signed.work, 'bundle');
  const umoci = await run('umoci', ['unpack', '--rootless', '--image', `${layout}:app`, bundle]);
  assert.equal(umoci.code, 0, umoci.stderr);
  assert.equal(readFileSync(join(bundle, 'rootfs', 'etc', 'hello'), 'utf8'), 'hello\n');

  const fresh = join(signed.work, 'fresh');
  const loaded = JSON.parse((await cli('load', '--store', fresh, '-i', `oci:${layout}`, '--json')).stdout) as { images: unknown[]; referrers: number };
  assert.equal(loaded.images.length, 1, 'a referrer is not reported as a loaded image');
  assert.equal(loaded.referrers, 3);
  assert.deepEqual(await storedReferrers(fresh, signed.image.digest), [signed.signature.digest, signed.sbom.digest]);
  assert.deepEqual(await storedReferrers(fresh, signed.sbom.digest), [signed.sbomSignature.digest]);
  assert.deepEqual(await imageNames(fresh), ['app:1']);
});

test('docker-archive (Docker 25+) carries the referrers through a round trip; docker-legacy says in one warning it cannot', async (t) => {
  const signed = await signedStore(t);
  const archive = join(signed.work, 'app.tar');
  await cli('save', 'app:1', '--store', signed.store, '-o', `docker-archive:${archive}`);
  const fresh = join(signed.work, 'fresh');
  await cli('load', '--store', fresh, '-i', archive);
  assert.deepEqual(await storedReferrers(fresh, signed.image.digest), [signed.signature.digest, signed.sbom.digest]);
  assert.deepEqual(await imageNames(fresh), ['app:1']);

  const legacy = await cli('save', 'app:1', '--store', signed.store, '-o', `docker-legacy:${join(signed.work, 'legacy.tar')}`);
  const warnings = legacy.stderr.split('\n').filter((line) => line.includes('referrer'));
  assert.equal(warnings.length, 1, legacy.stderr);
  assert.match(warnings[0]!, /3 referrers left out: docker-legacy archives cannot hold them/);
});

test('--no-referrers leaves them out of save and of load', async (t) => {
  const signed = await signedStore(t);
  const layout = join(signed.work, 'bare');
  await cli('save', 'app:1', '--store', signed.store, '--no-referrers', '-o', `oci:${layout}`);
  assert.deepEqual(layoutIndex(layout).manifests.map((entry) => entry.digest), [signed.image.digest]);

  const full = join(signed.work, 'full');
  await cli('save', 'app:1', '--store', signed.store, '-o', `oci:${full}`);
  const fresh = join(signed.work, 'fresh');
  const loaded = JSON.parse((await cli('load', '--store', fresh, '--no-referrers', '-i', `oci:${full}`, '--json')).stdout) as { referrers: number };
  assert.equal(loaded.referrers, 0);
  assert.deepEqual(await storedReferrers(fresh, signed.image.digest), []);
});

test('a tampered referrer blob is refused (exit 3) and the store is left as it was', async (t) => {
  const signed = await signedStore(t);
  const layout = join(signed.work, 'layout');
  await cli('save', 'app:1', '--store', signed.store, '-o', `oci:${layout}`);
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', digestHex(signed.signature.digest)), 'utf8')) as { layers: Descriptor[] };
  const payload = join(layout, 'blobs', 'sha256', digestHex(manifest.layers[0]!.digest));
  writeFileSync(payload, readFileSync(payload, 'utf8').replace('signature', 'forged!!!'));

  const target = join(signed.work, 'target');
  await withStore(target, async (opened) => buildImage(opened, signed.work, { name: 'other:1', content: 'other\n' }));
  const before = readFileSync(join(target, 'index.json'));
  const blobsBefore = readdirSync(join(target, 'blobs', 'sha256')).sort();
  const result = await rootfs(['load', '--store', target, '-i', `oci:${layout}`]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /digest mismatch/);
  assert.deepEqual(readFileSync(join(target, 'index.json')), before);
  assert.deepEqual(readdirSync(join(target, 'blobs', 'sha256')).sort(), blobsBefore);
});

test('load calls beforeNames with the staged referrers; a refusal there leaves the store unchanged', async (t) => {
  const signed = await signedStore(t);
  const layout = join(signed.work, 'layout');
  await cli('save', 'app:1', '--store', signed.store, '-o', `oci:${layout}`);
  const target = join(signed.work, 'target');
  await withStore(target, async (opened) => {
    const before = readFileSync(join(target, 'index.json'));
    let seen: { subjects: Digest[]; payload: string } | undefined;
    await assert.rejects(
      loadArchive(opened, { format: 'oci', path: layout, ref: undefined }, {
        beforeNames: async (staged) => {
          const signature = staged.referrers.find((referrer) => referrer.descriptor.digest === signed.signature.digest)!;
          const manifest = JSON.parse((await staged.readBlob(signature.descriptor.digest)).toString()) as { layers: Descriptor[] };
          seen = { subjects: staged.referrers.map((referrer) => referrer.subject), payload: (await staged.readBlob(manifest.layers[0]!.digest)).toString() };
          assert.equal(staged.images[0]!.descriptor?.digest, signed.image.digest);
          throw new Error('policy: refused');
        },
      }),
      /policy: refused/,
    );
    assert.deepEqual(seen?.subjects, [signed.image.digest, signed.image.digest, signed.sbom.digest]);
    assert.match(seen!.payload, /"payload":"signature"/);
    assert.deepEqual(readFileSync(join(target, 'index.json')), before);
    assert.equal(await opened.hasBlob(signed.signature.digest), false, 'no blob committed');
  });
});

test('rmi of the subject removes its referrers, and theirs', async (t) => {
  const signed = await signedStore(t);
  await cli('rmi', '--store', signed.store, 'app:1');
  const index = JSON.parse(readFileSync(join(signed.store, 'index.json'), 'utf8')) as Index;
  assert.deepEqual(index.manifests, []);
});

test('push lists the referrers under the fallback tag sha256-<hex> (no referrers API on docker-registry 2.8); pull brings them back', async (t) => {
  if (!requireTools(t, 'docker-registry', 'skopeo')) return;
  const registry = await startRegistry(t);
  const signed = await signedStore(t);
  const pushed = JSON.parse((await cli('push', '--store', signed.store, 'app:1', `${registry.host}/ns/app:1`, '--tls-verify=false', '--json')).stdout) as { referrers: number };
  assert.equal(pushed.referrers, 3);

  const fallback = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/ns/app:sha256-${digestHex(signed.image.digest)}`)) as Index;
  assert.deepEqual(fallback.manifests.map((entry) => [entry.digest, entry.artifactType]), [
    [signed.signature.digest, signed.signature.artifactType],
    [signed.sbom.digest, signed.sbom.artifactType],
  ]);
  const ofSbom = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/ns/app:sha256-${digestHex(signed.sbom.digest)}`)) as Index;
  assert.deepEqual(ofSbom.manifests.map((entry) => entry.digest), [signed.sbomSignature.digest]);

  const fresh = join(signed.work, 'fresh');
  const pulled = JSON.parse((await cli('pull', '--store', fresh, `${registry.host}/ns/app:1`, 'app:1', '--tls-verify=false', '--json')).stdout) as { referrers: number };
  assert.equal(pulled.referrers, 3);
  assert.deepEqual(await storedReferrers(fresh, signed.image.digest), [signed.signature.digest, signed.sbom.digest]);
  assert.deepEqual(await storedReferrers(fresh, signed.sbom.digest), [signed.sbomSignature.digest]);
  assert.deepEqual(await imageNames(fresh), ['app:1']);

  const bare = join(signed.work, 'bare');
  await cli('pull', '--store', bare, `${registry.host}/ns/app:1`, 'app:1', '--tls-verify=false', '--no-referrers');
  assert.deepEqual(await storedReferrers(bare, signed.image.digest), []);

  // pull's beforeNames sees the staged signature; a refusal there leaves the store as it was.
  const refusing = join(signed.work, 'refusing');
  await withStore(refusing, async (store) => {
    const before = readFileSync(join(refusing, 'index.json'));
    let payload: string | undefined;
    await assert.rejects(
      pullImage(store, parseReference(`${registry.host}/ns/app:1`), undefined, {
        tlsVerify: false,
        beforeNames: async (staged) => {
          const signature = staged.referrers.find((referrer) => referrer.descriptor.digest === signed.signature.digest)!;
          assert.equal(signature.subject, signed.image.digest);
          const manifest = JSON.parse((await staged.readBlob(signature.descriptor.digest)).toString()) as { layers: Descriptor[] };
          payload = (await staged.readBlob(manifest.layers[0]!.digest)).toString();
          throw new Error('policy: refused');
        },
      }),
      /policy: refused/,
    );
    assert.match(payload!, /"payload":"signature"/);
    assert.deepEqual(readFileSync(join(refusing, 'index.json')), before);
    assert.equal(await store.hasBlob(signed.image.digest), false, 'no blob committed');
  });
});

/**
 * A registry in front of docker-registry that answers some requests itself
 * (answer returns true when it did), forwarding the rest: what anyone who
 * can push to a repository, or a hostile registry, can serve.
 */
async function frontRegistry(t: TestContext, backend: string, answer: (request: IncomingMessage, response: ServerResponse) => boolean): Promise<string> {
  const server = createServer((request, response) => {
    if (answer(request, response)) return;
    const forwarded = httpRequest(`http://${backend}${request.url}`, { method: request.method, headers: { ...request.headers, host: backend } }, (reply) => {
      // docker-registry's Location headers name itself: keep the client talking to the front.
      const location = reply.headers.location?.replace(backend, `127.0.0.1:${(server.address() as AddressInfo).port}`);
      response.writeHead(reply.statusCode ?? 502, { ...reply.headers, ...(location ? { location } : {}) });
      reply.pipe(response);
    });
    request.pipe(forwarded);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  atEnd(t, () => server.close());
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function reply(response: ServerResponse, mediaType: string, body: Buffer, head: boolean): void {
  response.writeHead(200, { 'content-type': mediaType, 'content-length': body.length, 'docker-content-digest': sha256(body) });
  response.end(head ? undefined : body);
}

test('a junk referrers fallback tag is skipped with a warning: pull still works; a registry whose referrers chain for ever is followed only so far', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const signed = await signedStore(t);
  await cli('push', '--store', signed.store, 'app:1', `${registry.host}/ns/app:1`, '--no-referrers');
  const fallbackTag = `/v2/ns/app/manifests/sha256-${digestHex(signed.image.digest)}`;

  const junk = await frontRegistry(t, registry.host, (request, response) => {
    if (request.url !== fallbackTag) return false;
    reply(response, 'application/vnd.oci.image.index.v1+json', Buffer.from('{"schemaVersion": 2, "manifests": "junk"}'), request.method === 'HEAD');
    return true;
  });
  const store = join(signed.work, 'junk');
  const pulled = await rootfs(['pull', '--store', store, `${junk}/ns/app:1`, 'app:1', '--tls-verify=false']);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stderr, /warning: .*sha256-[0-9a-f]{64}.*(skipped)/);
  assert.deepEqual(await imageNames(store), ['app:1']);

  // Every referrer has a referrer of its own, made up on the spot: without a bound, a pull never ends.
  const empty = Buffer.from('{}');
  const made = new Map<string, Buffer>();
  const referrerOf = (subject: string): Buffer =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example.chain', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }, layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }], subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 2 } }));
  const chain = await frontRegistry(t, registry.host, (request, response) => {
    const head = request.method === 'HEAD';
    const referrers = /^\/v2\/ns\/app\/referrers\/(sha256:[0-9a-f]{64})/.exec(request.url ?? '');
    if (referrers) {
      const next = referrerOf(referrers[1]!);
      made.set(sha256(next), next);
      const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(next), size: next.length, artifactType: 'application/vnd.example.chain' }] };
      reply(response, 'application/vnd.oci.image.index.v1+json', Buffer.from(JSON.stringify(index)), head);
      return true;
    }
    const manifest = /^\/v2\/ns\/app\/manifests\/(sha256:[0-9a-f]{64})$/.exec(request.url ?? '');
    if (manifest && made.has(manifest[1]!)) {
      reply(response, 'application/vnd.oci.image.manifest.v1+json', made.get(manifest[1]!)!, head);
      return true;
    }
    if (request.url === `/v2/ns/app/blobs/${sha256(empty)}`) {
      reply(response, 'application/octet-stream', empty, head);
      return true;
    }
    return false;
  });
  const chained = join(signed.work, 'chained');
  const result = await rootfs(['pull', '--store', chained, `${chain}/ns/app:1`, 'app:1', '--tls-verify=false', '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, tooDeep);
  assert.equal((JSON.parse(result.stdout.toString()) as { referrers: number }).referrers, 4);
});

test('an archive or a store past the referrer bounds gets the bounds and the warning a registry gets: 4 deep, 1,000 in all', async (t) => {
  const work = makeTempDir(t);
  const image = makeImage([makeLayer({ 'etc/hello': 'bounded\n' })]);
  const empty = Buffer.from('{}');
  const emptyDescriptor: Descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 };
  const referrerOf = (subject: Descriptor, n: number): { descriptor: Descriptor; member: Member } => {
    const data = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, artifactType: 'application/vnd.example.bound', config: emptyDescriptor, layers: [emptyDescriptor], subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size }, annotations: { n: String(n) } }));
    const descriptor: Descriptor = { mediaType: MediaType.ImageManifest, digest: sha256(data), size: data.length, artifactType: 'application/vnd.example.bound' };
    return { descriptor, member: { path: `blobs/sha256/${digestHex(descriptor.digest)}`, body: data } };
  };
  const archiveOf = (name: string, referrers: Array<{ descriptor: Descriptor; member: Member }>): string => {
    const members = ociMembers([{ descriptor: image.manifestDescriptor, refName: 'bound:1' }, ...referrers.map(({ descriptor }) => ({ descriptor }))], [image], [{ path: `blobs/sha256/${digestHex(emptyDescriptor.digest)}`, body: empty }, ...referrers.map(({ member }) => member)]);
    const path = join(work, name);
    writeFileSync(path, tarOf(members));
    return path;
  };
  const recorded = async (store: string): Promise<number> => withStore(store, async (opened) => (await opened.readIndex()).manifests.filter((entry) => entry.annotations?.[Annotation.Subject] !== undefined).length);

  // A chain of 6: each referrer the subject of the next.
  const chain = [referrerOf(image.manifestDescriptor, 0)];
  while (chain.length < 6) chain.push(referrerOf(chain[chain.length - 1]!.descriptor, chain.length));
  const deep = join(work, 'deep-store');
  const loaded = await rootfs(['load', '--store', deep, '-i', `oci-archive:${archiveOf('deep.tar', chain)}`]);
  assert.equal(loaded.code, 1, loaded.stderr);
  assert.match(loaded.stderr, tooDeep);
  assert.equal(await recorded(deep), 4, 'referrers to depth 4 are loaded');

  // A store holding the whole chain (recorded one by one, as sign does) saves to depth 4, with the same warning.
  const held = join(work, 'held-store');
  await withStore(held, async (store) => {
    const { manifest } = await buildImage(store, work, { name: 'app:1' });
    let subject = manifest;
    for (let n = 0; n < 6; n++) subject = await buildReferrer(store, subject, { payload: `link ${n}` });
  });
  const layout = join(work, 'layout');
  const saved = await rootfs(['save', '--store', held, 'app:1', '-o', `oci:${layout}`]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stderr, tooDeep);
  assert.equal(layoutIndex(layout).manifests.filter((entry) => entry.artifactType !== undefined).length, 4);

  // 1,001 referrers of the image: 1,000 are taken.
  const wide = join(work, 'wide-store');
  const many = Array.from({ length: 1001 }, (_, n) => referrerOf(image.manifestDescriptor, n));
  const loadedMany = await rootfs(['load', '--store', wide, '-i', `oci-archive:${archiveOf('wide.tar', many)}`]);
  assert.equal(loadedMany.code, 1, loadedMany.stderr);
  assert.match(loadedMany.stderr, tooMany);
  assert.equal(await recorded(wide), 1000);
});
