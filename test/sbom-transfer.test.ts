/**
 * An attached SBOM travels with its image: save → load, split → join → load,
 * push → pull (docker-registry), byte for byte; `rootfs sign` signs it with
 * the image, and `--require-signed` refuses an SBOM that no trusted key
 * signed, with the store unchanged.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, requireTools, rootfs } from './helpers.js';
import { startRegistry } from './registry-server.js';
import { alpineRoot } from './sbom-fixtures.js';
import { writeKeys } from './trust-fixture.js';
import { snapshot } from './fixtures.js';

async function ok(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
  return { stdout: result.stdout.toString(), stderr: result.stderr };
}

/** A store holding alp:1 with an SPDX SBOM attached; returns the store and the document's bytes. */
async function imageWithSbom(dir: string, name: string): Promise<{ store: string; document: string }> {
  const root = alpineRoot(join(dir, `${name}-root`));
  const store = join(dir, name);
  // The one SBOM is the one attached here (capture's own, --sbom, is test/sbom-capture.test.ts's).
  await ok(['--store', store, 'import', root, 'alp:1', '-q']);
  const file = join(dir, `${name}.spdx.json`);
  await ok(['--store', store, 'sbom', 'alp:1', '--attach', '-o', file]);
  return { store, document: readFileSync(file, 'utf8') };
}

test('a signed SBOM survives save → load, split → join → load and push → pull, each under --require-signed', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const dir = makeTempDir(t);
  const site = writeKeys(dir, 'site');
  const { store, document } = await imageWithSbom(dir, 'source');
  const signed = await ok(['--store', store, 'sign', 'alp:1', '--key', site.key]);
  assert.match(signed.stdout, /^alp:1: signed sha256:[0-9a-f]{64} \(signature sha256:[0-9a-f]{64}\)\nalp:1: signed its SBOM sha256:[0-9a-f]{64} \(signature sha256:[0-9a-f]{64}\)\n$/);

  const archive = join(dir, 'alp.tar');
  await ok(['--store', store, 'save', 'alp:1', '-o', archive]);
  const loaded = join(dir, 'loaded');
  const load = await ok(['--store', loaded, 'load', '-i', archive, '--require-signed', site.pub]);
  assert.match(load.stderr, /alp:1: SBOM sha256:[0-9a-f]{64}: signature by .* verified/);
  assert.equal((await ok(['--store', loaded, 'sbom', 'alp:1'])).stdout, document);

  const parts = join(dir, 'parts');
  await ok(['split', archive, '--size', '64K', '--force', '-o', parts]);
  const joined = join(dir, 'joined.tar');
  await ok(['join', parts, '-o', joined]);
  const rejoined = join(dir, 'rejoined');
  await ok(['--store', rejoined, 'load', '-i', joined, '--require-signed', site.pub]);
  assert.equal((await ok(['--store', rejoined, 'sbom', 'alp:1'])).stdout, document);

  const registry = await startRegistry(t);
  await ok(['--store', loaded, 'push', 'alp:1', `${registry.host}/site/alp:1`]);
  const pulled = join(dir, 'pulled');
  const pull = await ok(['--store', pulled, 'pull', `${registry.host}/site/alp:1`, 'alp:1', '--require-signed', site.pub]);
  assert.match(pull.stderr, /SBOM sha256:[0-9a-f]{64}: signature by .* verified/);
  assert.equal((await ok(['--store', pulled, 'sbom', 'alp:1'])).stdout, document);
});

test('--require-signed refuses an SBOM attached after the image was signed, the store unchanged', async (t) => {
  const dir = makeTempDir(t);
  const site = writeKeys(dir, 'site');
  const { store } = await imageWithSbom(dir, 'source');
  await ok(['--store', store, 'sign', 'alp:1', '--key', site.key]);
  // Another SBOM, attached after the signing: nobody vouched for it.
  await ok(['--store', store, 'sbom', 'alp:1', '--attach', '--format', 'cyclonedx']);
  const archive = join(dir, 'alp.tar');
  await ok(['--store', store, 'save', 'alp:1', '-o', archive]);
  const target = join(dir, 'target');
  // An empty store (gc makes one; a command that only reads makes none).
  await ok(['--store', target, 'gc']);
  const before = snapshot(target);
  const refused = await rootfs(['--store', target, 'load', '-i', archive, '--require-signed', site.pub]);
  assert.equal(refused.code, 3, refused.stderr);
  // The image and its first SBOM verify; the refusal is the last line, naming the SBOM.
  assert.match(refused.stderr.trim().split('\n').at(-1)!, /^rootfs: alp:1: SBOM sha256:[0-9a-f]{64}: no signature: no Sigstore bundle refers to sha256:/);
  assert.deepEqual(snapshot(target), before);
  // Signing again signs both SBOMs; then it loads.
  await ok(['--store', store, 'sign', 'alp:1', '--key', site.key]);
  await ok(['--store', store, 'save', 'alp:1', '-o', archive]);
  await ok(['--store', target, 'load', '-i', archive, '--require-signed', site.pub]);
});
