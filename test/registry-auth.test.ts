// tier: unit
/** WWW-Authenticate parsing, bearer token requests and caching, and the docker-compatible credentials file. */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Authenticator, parseChallenges, tokenFrom } from '../src/registry/auth.js';
import { authFilePath, readCredentials, removeCredentials, storeCredentials } from '../src/registry/credentials.js';
import { makeTempDir } from './helpers.js';

test('parseChallenges: quoted and bare parameters, commas inside quotes, several challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:ns/app:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:ns/app:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=https://t/x'), [
    { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
    { scheme: 'bearer', params: { realm: 'https://t/x' } },
  ]);
  assert.deepEqual(parseChallenges(''), []);
});

test('Authenticator: bearer tokens are fetched from the realm with service, scopes and basic credentials, and cached per scope', async () => {
  const requests: Array<{ url: string; authorization: string | undefined }> = [];
  const auth = new Authenticator({ username: 'u', password: 'p:w' }, async (realm, query, authorization) => {
    const url = new URL(realm);
    for (const [key, value] of query) url.searchParams.append(key, value);
    requests.push({ url: url.toString(), authorization });
    return { value: `t${requests.length}`, lifetime: 300 };
  });
  assert.equal(await auth.authorization(['repository:a:pull']), undefined, 'anonymous until a challenge');
  assert.equal(auth.learn('Bearer realm="https://auth.test/token",service="reg"', ['repository:a:pull']), true);
  assert.equal(await auth.authorization(['repository:a:pull']), 'Bearer t1');
  assert.equal(await auth.authorization(['repository:a:pull']), 'Bearer t1');
  assert.equal(await auth.authorization(['repository:a:pull,push', 'repository:b:pull']), 'Bearer t2');
  assert.deepEqual(requests, [
    { url: 'https://auth.test/token?service=reg&scope=repository%3Aa%3Apull', authorization: `Basic ${Buffer.from('u:p:w').toString('base64')}` },
    { url: 'https://auth.test/token?service=reg&scope=repository%3Aa%3Apull%2Cpush&scope=repository%3Ab%3Apull', authorization: `Basic ${Buffer.from('u:p:w').toString('base64')}` },
  ]);
  // A token refused for its scope is dropped, so the retry fetches a new one.
  assert.equal(auth.learn('Bearer realm="https://auth.test/token",service="reg"', ['repository:a:pull']), true);
  assert.equal(await auth.authorization(['repository:a:pull']), 'Bearer t3');
});

test('tokenFrom: token or access_token, a string fit for a header; anything else holds no token', () => {
  assert.deepEqual(tokenFrom({ token: 'abc', expires_in: 300 }), { value: 'abc', lifetime: 300 });
  assert.deepEqual(tokenFrom({ access_token: 'x.y-z' }), { value: 'x.y-z', lifetime: 60 });
  assert.deepEqual(tokenFrom({ token: '', access_token: 'b', expires_in: '9' }), { value: 'b', lifetime: 60 });
  for (const answer of [null, 5, 'tok', [], {}, { token: 5 }, { token: 'a b' }, { token: 'a\nrootfs: x' }, { access_token: {} }]) assert.equal(tokenFrom(answer), undefined, JSON.stringify(answer));
});

test('Authenticator: basic sends the credentials; without credentials a basic challenge cannot be met', async () => {
  const never = async (): Promise<never> => assert.fail('no token fetch for basic auth');
  const withCredentials = new Authenticator({ username: 'builder', password: 'x' }, never);
  assert.equal(withCredentials.learn('Basic realm="registry"', []), true);
  assert.equal(await withCredentials.authorization(['repository:a:pull']), `Basic ${Buffer.from('builder:x').toString('base64')}`);
  assert.equal(withCredentials.learn('Basic realm="registry"', []), false, 'the same challenge again: the credentials are wrong');
  const anonymous = new Authenticator(undefined, never);
  assert.equal(anonymous.learn('Basic realm="registry"', []), false);
  assert.equal(await anonymous.authorization([]), undefined);
});

test('authFilePath: --authfile, then REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json, then ~/.docker/config.json', () => {
  assert.equal(authFilePath('/x/auth.json', { REGISTRY_AUTH_FILE: '/r.json', DOCKER_CONFIG: '/d' }), '/x/auth.json');
  assert.equal(authFilePath(undefined, { REGISTRY_AUTH_FILE: '/r.json', DOCKER_CONFIG: '/d' }), '/r.json');
  assert.equal(authFilePath(undefined, { DOCKER_CONFIG: '/d' }), '/d/config.json');
  assert.equal(authFilePath(undefined, { HOME: '/home/me' }), '/home/me/.docker/config.json');
});

test('credentials file: docker layout, other keys kept, 0600, Docker Hub under its legacy key, URL keys understood', async (t) => {
  const dir = makeTempDir(t);
  const path = join(dir, 'docker', 'config.json');
  assert.equal(await readCredentials('reg:5000', path), undefined, 'no file: no credentials');

  await storeCredentials('reg:5000', { username: 'u', password: 'p:with:colons' }, path);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'docker')).mode & 0o777, 0o700);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { auths: { 'reg:5000': { auth: Buffer.from('u:p:with:colons').toString('base64') } } });
  assert.deepEqual(await readCredentials('reg:5000', path), { username: 'u', password: 'p:with:colons' });

  writeFileSync(path, JSON.stringify({ auths: { 'https://other.example/v2/': { auth: Buffer.from('o:q').toString('base64') } }, credsStore: 'desktop' }));
  assert.deepEqual(await readCredentials('other.example', path), { username: 'o', password: 'q' });
  await storeCredentials('docker.io', { username: 'hub', password: 'h' }, path);
  const file = JSON.parse(readFileSync(path, 'utf8')) as { auths: Record<string, unknown>; credsStore: string };
  assert.equal(file.credsStore, 'desktop');
  assert.deepEqual(Object.keys(file.auths).sort(), ['https://index.docker.io/v1/', 'https://other.example/v2/']);
  assert.deepEqual(await readCredentials('docker.io', path), { username: 'hub', password: 'h' });

  assert.equal(await removeCredentials('other.example', path), true);
  assert.equal(await removeCredentials('other.example', path), false);
  assert.equal(await readCredentials('other.example', path), undefined);
  assert.deepEqual(await readCredentials('docker.io', path), { username: 'hub', password: 'h' });

  writeFileSync(path, '{not json');
  await assert.rejects(readCredentials('reg:5000', path), { name: 'InvalidInputError', message: `${path}: malformed JSON: Expected property name or '}' in JSON at position 1` });
});
