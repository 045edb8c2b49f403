/**
 * The store's policy.json fails closed: a typo, an unknown key, a wrong
 * type, an empty requireSigned, a missing version or a key file that
 * cannot be read refuses load, pull and copy into the store (exit 3, the
 * policy named, the store unchanged) instead of letting unsigned images in.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyHint, readVerifyingKey } from '../src/trust/index.js';
import { makeTempDir, requireTools, rootfs } from './helpers.js';
import { startRegistry } from './registry-server.js';
import { writeKeys } from './trust-fixture.js';
import { buildImage, snapshot, withStore } from './fixtures.js';

async function ok(args: string[]): Promise<void> {
  const result = await rootfs(args);
  assert.equal(result.code, 0, `rootfs ${args.join(' ')}: ${result.stderr}`);
}

interface BrokenPolicy {
  label: string;
  /** The policy file's text, given the trusted key's path. */
  text: (pub: string) => string;
  message: (policy: string, pub: string) => RegExp;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function brokenPolicies(unreadable: string, missing: string, notAKey: string): BrokenPolicy[] {
  const at = (policy: string): string => `^rootfs: ${escape(policy)}: `;
  return [
    { label: 'typo requiresigned', text: (pub) => JSON.stringify({ version: 1, requiresigned: [pub] }), message: (policy) => new RegExp(`${at(policy)}unknown key "requiresigned"`) },
    { label: 'typo revokedKey', text: (pub) => JSON.stringify({ version: 1, requireSigned: [pub], revokedKey: ['x'] }), message: (policy) => new RegExp(`${at(policy)}unknown key "revokedKey"`) },
    { label: 'empty requireSigned', text: () => JSON.stringify({ version: 1, requireSigned: [] }), message: (policy) => new RegExp(`${at(policy)}"requireSigned" is empty`) },
    { label: 'no requireSigned', text: () => JSON.stringify({ version: 1, revokedKeys: [] }), message: (policy) => new RegExp(`${at(policy)}"requireSigned" is missing`) },
    { label: 'no version', text: (pub) => JSON.stringify({ requireSigned: [pub] }), message: (policy) => new RegExp(`${at(policy)}no "version": add "version": 1`) },
    { label: 'version 2', text: (pub) => JSON.stringify({ version: 2, requireSigned: [pub] }), message: (policy) => new RegExp(`${at(policy)}"version": 2, not 1`) },
    { label: 'version as a string', text: (pub) => JSON.stringify({ version: '1', requireSigned: [pub] }), message: (policy) => new RegExp(`${at(policy)}"version": "1", not 1`) },
    { label: 'requireSigned a string', text: (pub) => JSON.stringify({ version: 1, requireSigned: pub }), message: (policy) => new RegExp(`${at(policy)}"requireSigned" must be a list of strings, not string`) },
    { label: 'requireSigned holding a number', text: (pub) => JSON.stringify({ version: 1, requireSigned: [pub, 7] }), message: (policy) => new RegExp(`${at(policy)}"requireSigned"\\[1\\] must be a non-empty string, not number 7`) },
    { label: 'revokedKeys an object', text: (pub) => JSON.stringify({ version: 1, requireSigned: [pub], revokedKeys: {} }), message: (policy) => new RegExp(`${at(policy)}"revokedKeys" must be a list of strings, not an object`) },
    { label: 'revokedKeys not a hint', text: (pub) => JSON.stringify({ version: 1, requireSigned: [pub], revokedKeys: ['site-a'] }), message: (policy) => new RegExp(`${at(policy)}"revokedKeys"\\[0\\] is not a key hint`) },
    { label: 'a list, not an object', text: (pub) => JSON.stringify([pub]), message: (policy) => new RegExp(`${at(policy)}not a policy`) },
    { label: 'a missing key file', text: () => JSON.stringify({ version: 1, requireSigned: [missing] }), message: (policy) => new RegExp(`^rootfs: ${escape(missing)} \\(named by ${escape(policy)}\\): `) },
    { label: 'an unreadable key file', text: () => JSON.stringify({ version: 1, requireSigned: [unreadable] }), message: (policy) => new RegExp(`^rootfs: ${escape(unreadable)} \\(named by ${escape(policy)}\\): `) },
    { label: 'a file that is not a key', text: () => JSON.stringify({ version: 1, requireSigned: [notAKey] }), message: (policy) => new RegExp(`^rootfs: ${escape(notAKey)} \\(named by ${escape(policy)}\\): not a PEM public key`) },
  ];
}

async function checkRefusals(t: import('node:test').TestContext, command: (store: string) => string[]): Promise<void> {
  const dir = makeTempDir(t);
  const site = writeKeys(dir, 'site');
  // A directory where the key file should be: unreadable as a key even to root (a chmod 000 file is not).
  const unreadable = join(dir, 'keys.d');
  mkdirSync(unreadable);
  const notAKey = join(dir, 'notakey.pub');
  writeFileSync(notAKey, 'hello\n');
  const store = join(dir, 'store');
  await ok(['--store', store, 'gc']); // an empty store: a command that only reads makes none
  const policy = join(store, 'policy.json');
  const cases = brokenPolicies(unreadable, join(dir, 'missing.pub'), notAKey);
  for (const { label, text, message } of cases) {
    writeFileSync(policy, text(site.pub));
    const before = snapshot(store);
    const result = await rootfs(['--store', store, ...command(store)]);
    assert.equal(result.code, 3, `${label}: ${result.stderr}`);
    assert.match(result.stderr, message(policy, site.pub), label);
    assert.equal(result.stderr.trim().split('\n').length, 1, `${label}: one line: ${result.stderr}`);
    assert.deepEqual(snapshot(store), before, `${label}: the store is as it was`);
  }
  // A policy.json that is a symbolic link to nothing is not "no policy".
  rmSync(policy);
  symlinkSync(join(dir, 'not-mounted', 'policy.json'), policy);
  const dangling = snapshot(store);
  const linked = await rootfs(['--store', store, ...command(store)]);
  assert.equal(linked.code, 3, linked.stderr);
  assert.match(linked.stderr, new RegExp(`^rootfs: ${escape(policy)}: a symbolic link to nothing`));
  assert.deepEqual(snapshot(store), dangling);
  rmSync(policy);

  // Every key revoked: nothing could come in, the policy's fault.
  const hint = keyHint((await readVerifyingKey(site.pub)).publicKey);
  writeFileSync(policy, JSON.stringify({ version: 1, requireSigned: [site.pub], revokedKeys: [hint] }));
  const before = snapshot(store);
  const revoked = await rootfs(['--store', store, ...command(store)]);
  assert.equal(revoked.code, 3, revoked.stderr);
  assert.match(revoked.stderr, /policy\.json: every key in "requireSigned" is revoked/);
  assert.deepEqual(snapshot(store), before);
}

test('a broken policy.json refuses load and copy into the store, exit 3 naming it, the store unchanged', async (t) => {
  const dir = makeTempDir(t);
  const source = join(dir, 'source');
  await withStore(source, (store) => buildImage(store, dir, { name: 'unsigned:1', content: 'unsigned\n' }));
  const archive = join(dir, 'unsigned.tar');
  await ok(['--store', source, 'save', 'unsigned:1', '-o', archive]);
  await t.test('load', (t) => checkRefusals(t, () => ['load', '-i', archive]));
  await t.test('copy', (t) => checkRefusals(t, () => ['copy', `docker-archive:${archive}`, 'rootfs:copied:1']));
});

test('a broken policy.json refuses pull, exit 3 naming it, the store unchanged', async (t) => {
  if (!requireTools(t, 'docker-registry')) return;
  const dir = makeTempDir(t);
  const registry = await startRegistry(t);
  const source = join(dir, 'source');
  await withStore(source, (store) => buildImage(store, dir, { name: 'unsigned:1', content: 'unsigned\n' }));
  await ok(['--store', source, 'push', 'unsigned:1', `${registry.host}/site/unsigned:1`]);
  await checkRefusals(t, () => ['pull', `${registry.host}/site/unsigned:1`]);
});

test('a good version 1 policy with a relative key path lets signed images in and refuses unsigned ones', async (t) => {
  const dir = makeTempDir(t);
  const source = join(dir, 'source');
  const store = join(dir, 'store');
  const site = writeKeys(dir, 'site');
  await withStore(source, async (s) => {
    await buildImage(s, dir, { name: 'app:1', content: 'app\n' });
    await buildImage(s, dir, { name: 'unsigned:1', content: 'unsigned\n' });
  });
  const signed = join(dir, 'signed.tar');
  const unsigned = join(dir, 'unsigned.tar');
  await ok(['--store', source, 'save', 'app:1', '--sign', site.key, '-o', signed]);
  await ok(['--store', source, 'save', 'unsigned:1', '-o', unsigned]);
  await ok(['--store', store, 'gc']); // an empty store: a command that only reads makes none
  writeFileSync(join(store, 'policy.json'), JSON.stringify({ version: 1, requireSigned: ['../site.pub'], revokedKeys: [] }));
  const before = snapshot(store);
  const refused = await rootfs(['--store', store, 'load', '-i', unsigned]);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, /unsigned:1: no signature/);
  assert.deepEqual(snapshot(store), before);
  await ok(['--store', store, 'load', '-i', signed]);
});
