/**
 * Signed part sets: split --sign with an OpenSSH key writes an SSHSIG that
 * `ssh-keygen -Y verify` accepts; a signature made by `ssh-keygen -Y sign
 * -n rootfs` is accepted by verify DIR --key and join --require-signed; a
 * PEM key gives a Sigstore bundle; tampering, another key, another
 * namespace and no signature are each refused before any part is read.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { generateKeyPair } from '../src/trust/index.js';
import { makeTempDir, requireTools, rootfs, run, runOk } from './helpers.js';

async function partSet(t: TestContext, signWith?: string): Promise<{ dir: string; parts: string; manifest: string }> {
  const dir = makeTempDir(t);
  const file = join(dir, 'data.bin');
  writeFileSync(file, Buffer.alloc(3000, 7));
  const parts = join(dir, 'parts');
  const result = await rootfs(['split', file, '--size', '1024', '--force', '-o', parts, ...(signWith ? ['--sign', signWith] : [])]);
  assert.equal(result.code, 0, result.stderr);
  return { dir, parts, manifest: join(parts, 'data.bin.parts.json') };
}

async function sshKey(dir: string, type: 'ed25519' | 'ecdsa', name: string): Promise<string> {
  const path = join(dir, name);
  await runOk('ssh-keygen', ['-q', '-t', type, ...(type === 'ecdsa' ? ['-b', '256'] : []), '-N', '', '-C', 'admin@site', '-f', path]);
  return path;
}

for (const type of ['ed25519', 'ecdsa'] as const) {
  test(`split --sign with an OpenSSH ${type} key: ssh-keygen -Y verify accepts the signature, and so does verify --key`, async (t) => {
    if (!requireTools(t, 'ssh-keygen')) return;
    const keyDir = makeTempDir(t);
    const key = await sshKey(keyDir, type, 'id');
    const { parts, manifest } = await partSet(t, key);
    assert.ok(existsSync(`${manifest}.sig`));
    const allowed = join(keyDir, 'allowed_signers');
    writeFileSync(allowed, `admin@site namespaces="rootfs" ${readFileSync(`${key}.pub`, 'utf8')}`);
    const checked = await run('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'admin@site', '-n', 'rootfs', '-s', `${manifest}.sig`], { input: readFileSync(manifest) });
    assert.equal(checked.code, 0, checked.stderr);
    const ours = await rootfs(['verify', parts, '--key', `${key}.pub`]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.match(ours.stdout.toString(), /OK .*signed/);
  });

  test(`a signature made by ssh-keygen -Y sign -n rootfs (${type}) is accepted by verify --key and join --require-signed`, async (t) => {
    if (!requireTools(t, 'ssh-keygen')) return;
    const keyDir = makeTempDir(t);
    const key = await sshKey(keyDir, type, 'id');
    const { dir, parts, manifest } = await partSet(t);
    await runOk('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', 'rootfs', manifest]);
    const verified = await rootfs(['verify', manifest, '--key', `${key}.pub`]);
    assert.equal(verified.code, 0, verified.stderr);
    const out = join(dir, 'joined.bin');
    const joined = await rootfs(['join', parts, '--require-signed', `${key}.pub`, '-o', out]);
    assert.equal(joined.code, 0, joined.stderr);
    assert.deepEqual(readFileSync(out), Buffer.alloc(3000, 7));
  });
}

test('a PEM key signs a part set with a Sigstore bundle; verify with its public key', async (t) => {
  const keyDir = makeTempDir(t);
  const { privatePem, publicPem } = generateKeyPair('ecdsa-p256');
  writeFileSync(join(keyDir, 'a.key'), privatePem, { mode: 0o600 });
  writeFileSync(join(keyDir, 'a.pub'), publicPem);
  const { parts, manifest } = await partSet(t, join(keyDir, 'a.key'));
  assert.equal(JSON.parse(readFileSync(`${manifest}.sigstore.json`, 'utf8')).mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  const verified = await rootfs(['verify', parts, '--key', join(keyDir, 'a.pub'), '--json']);
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal(JSON.parse(verified.stdout.toString()).signatureFormat, 'sigstore-bundle');
});

test('part set refusals: no signature, another key, a changed manifest, another namespace; the output is not written', async (t) => {
  if (!requireTools(t, 'ssh-keygen')) return;
  const keyDir = makeTempDir(t);
  const key = await sshKey(keyDir, 'ed25519', 'id');
  const other = await sshKey(keyDir, 'ed25519', 'other');
  const unsigned = await partSet(t);
  const noSignature = await rootfs(['join', unsigned.parts, '--require-signed', `${key}.pub`, '-o', join(unsigned.dir, 'out')]);
  assert.equal(noSignature.code, 3, noSignature.stderr);
  assert.match(noSignature.stderr, /data\.bin\.parts\.json: no signature/);
  assert.equal(existsSync(join(unsigned.dir, 'out')), false);

  const signed = await partSet(t, key);
  const wrongKey = await rootfs(['verify', signed.parts, '--key', `${other}.pub`]);
  assert.equal(wrongKey.code, 3, wrongKey.stderr);
  assert.match(wrongKey.stderr, /signed by another key, not by .*other\.pub/);
  const eitherKey = await rootfs(['join', signed.parts, '--require-signed', `${other}.pub,${key}.pub`, '-o', join(signed.dir, 'out')]);
  assert.equal(eitherKey.code, 0, `one trusted key of several suffices: ${eitherKey.stderr}`);

  const text = readFileSync(signed.manifest, 'utf8');
  // Still a valid manifest of the same parts, but not the bytes that were signed.
  writeFileSync(signed.manifest, `${text} `);
  const changed = await rootfs(['verify', signed.parts, '--key', `${key}.pub`]);
  assert.equal(changed.code, 3, changed.stderr + changed.stdout.toString());
  assert.match(changed.stderr, /does not verify with .*id\.pub: the file or the signature was changed after signing/);
  writeFileSync(signed.manifest, text);

  rmSync(`${signed.manifest}.sig`);
  await runOk('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', 'git', signed.manifest]);
  const namespace = await rootfs(['verify', signed.parts, '--key', `${key}.pub`]);
  assert.equal(namespace.code, 3, namespace.stderr);
  assert.match(namespace.stderr, /made for namespace "git", not "rootfs"/);
});

test("splitting again without --sign removes the old set's signatures: they sign a manifest that is gone", async (t) => {
  if (!requireTools(t, 'ssh-keygen')) return;
  const key = await sshKey(makeTempDir(t), 'ed25519', 'id');
  const { dir, parts, manifest } = await partSet(t, key);
  assert.ok(existsSync(`${manifest}.sig`));
  const again = await rootfs(['split', join(dir, 'data.bin'), '--size', '1024', '--force', '-o', parts]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(existsSync(`${manifest}.sig`), false);
  const unsigned = await rootfs(['verify', parts, '--key', `${key}.pub`]);
  assert.match(unsigned.stderr, /no signature/);
});

test('an encrypted OpenSSH private key is refused with what to do', async (t) => {
  if (!requireTools(t, 'ssh-keygen')) return;
  const keyDir = makeTempDir(t);
  const key = join(keyDir, 'locked');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', key]);
  const dir = makeTempDir(t);
  writeFileSync(join(dir, 'f'), 'x');
  const result = await rootfs(['split', join(dir, 'f'), '--size', '1M', '-o', join(dir, 'p'), '--sign', key]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /encrypted with a passphrase, which rootfs cannot undo: sign with a decrypted copy/);
  assert.equal(existsSync(join(dir, 'p')), false, 'nothing is split when the key cannot be used');
});
