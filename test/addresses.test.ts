// tier: unit
/** How archives, layouts and registries are named (src/transports/address.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddress, parseRegistryAddress, parseRegistryHost } from '../src/transports/address.js';

test('addresses: FORMAT:PATH[:REF] as skopeo, plain paths as paths', () => {
  assert.deepEqual(parseAddress('docker-archive:/tmp/a.tar:busybox:latest'), { format: 'docker-archive', path: '/tmp/a.tar', ref: 'busybox:latest' });
  assert.deepEqual(parseAddress('oci:/srv/layout'), { format: 'oci', path: '/srv/layout', ref: undefined });
  assert.deepEqual(parseAddress('oci-archive:x.tar:app'), { format: 'oci-archive', path: 'x.tar', ref: 'app' });
  assert.deepEqual(parseAddress('images.tar'), { format: undefined, path: 'images.tar', ref: undefined });
  assert.deepEqual(parseAddress('./odd:name.tar'), { format: undefined, path: './odd:name.tar', ref: undefined });
  assert.deepEqual(parseAddress('-'), { format: undefined, path: '-', ref: undefined });
  assert.throws(() => parseAddress('oci:'), /no path/);
  assert.throws(() => parseAddress('oci:dir:'), /empty reference/);
});

test('docker:// addresses: HOST alone or HOST/REPO[:TAG][@DIGEST]; the host is never implied', () => {
  assert.deepEqual(parseRegistryAddress('docker://reg.site:5000'), { registry: 'reg.site:5000', reference: undefined });
  assert.deepEqual(parseRegistryAddress('docker://reg.site:5000/ns/app'), { registry: 'reg.site:5000', reference: { registry: 'reg.site:5000', repository: 'ns/app', tag: 'latest' } });
  assert.deepEqual(parseRegistryAddress('docker://localhost/app:2'), { registry: 'localhost', reference: { registry: 'localhost', repository: 'app', tag: '2' } });
  const digest = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(parseRegistryAddress(`docker://127.0.0.1:5000/x@${digest}`).reference, { registry: '127.0.0.1:5000', repository: 'x', digest });
  assert.deepEqual(parseRegistryAddress('docker://docker.io/library/busybox:1').reference, { registry: 'docker.io', repository: 'library/busybox', tag: '1' });
  // docker would read these as Docker Hub names; as a registry address they are refused rather than sent to Docker Hub.
  assert.throws(() => parseRegistryAddress('docker://busybox'), { name: 'UsageError', message: /'busybox' is not a registry host/ });
  assert.throws(() => parseRegistryAddress('docker://myregistry/app:1'), { name: 'UsageError', message: /'myregistry' is not a registry host/ });
  assert.throws(() => parseRegistryAddress('docker://'), { name: 'UsageError' });
  assert.throws(() => parseRegistryAddress('docker://reg.site/Upper'), { name: 'UsageError', message: /lowercase/ });
  assert.equal(parseRegistryHost('index.docker.io'), 'docker.io');
  assert.throws(() => parseRegistryHost('reg.site/ns'), { name: 'UsageError' });
  assert.throws(() => parseAddress('docker://reg.site/app'), { name: 'UsageError', message: /is a registry, not an archive/ });
});
