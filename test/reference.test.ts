// tier: unit
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../src/errors.js';
import { familiarName, fullName, parseReference, sameReference, sameRepository } from '../src/oci/reference.js';

const hex = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';

test('normalisation: docker.io, library/ and :latest are implied, and dropped again for display', () => {
  const cases: Array<[string, string, string]> = [
    ['base', 'docker.io/library/base:latest', 'base:latest'],
    ['base:1.0', 'docker.io/library/base:1.0', 'base:1.0'],
    ['library/base', 'docker.io/library/base:latest', 'base:latest'],
    ['docker.io/base', 'docker.io/library/base:latest', 'base:latest'],
    ['index.docker.io/library/debian:12', 'docker.io/library/debian:12', 'debian:12'],
    ['docker/stevvooe/app', 'docker.io/docker/stevvooe/app:latest', 'docker/stevvooe/app:latest'],
    ['ns/app:v2', 'docker.io/ns/app:v2', 'ns/app:v2'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['registry:5000/ns/app:1.0', 'registry:5000/ns/app:1.0', 'registry:5000/ns/app:1.0'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/library/debian', '127.0.0.1:5000/library/debian:latest', '127.0.0.1:5000/library/debian:latest'],
    ['[fc00::1]:5000/docker', '[fc00::1]:5000/docker:latest', '[fc00::1]:5000/docker:latest'],
    // A first component with upper case can only be a host (docker's splitDockerDomain).
    ['Foo/bar', 'Foo/bar:latest', 'Foo/bar:latest'],
    [`base@sha256:${hex}`, `docker.io/library/base@sha256:${hex}`, `base@sha256:${hex}`],
    [`base:1.0@sha256:${hex}`, `docker.io/library/base:1.0@sha256:${hex}`, `base:1.0@sha256:${hex}`],
    ['ns/a__b.c-d---e/f_g:T_a.g-1', 'docker.io/ns/a__b.c-d---e/f_g:T_a.g-1', 'ns/a__b.c-d---e/f_g:T_a.g-1'],
  ];
  for (const [text, full, familiar] of cases) {
    const ref = parseReference(text);
    assert.equal(fullName(ref), full, text);
    assert.equal(familiarName(ref), familiar, text);
  }
  assert.deepEqual(parseReference('registry:5000/ns/app:1.0'), { registry: 'registry:5000', repository: 'ns/app', tag: '1.0' });
  assert.deepEqual(parseReference(`app@sha256:${hex}`), { registry: 'docker.io', repository: 'library/app', digest: `sha256:${hex}` });
});

test('valid names from docker reference tests', () => {
  for (const text of [
    'docker/docker',
    'library/debian',
    'debian',
    'docker.io/docker/docker',
    '127.0.0.1:5000/docker/docker',
    '127.0.0.1:5000/debian',
    '192.168.0.1',
    '192.168.0.1:80',
    '192.168.0.1:8/debian',
    '192.168.0.2:25000/debian',
    'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
    `docker.io/${hex.slice(0, 63)}1`,
    `foo/${hex}`,
    hex.slice(0, 63),
    'xn--n3h.com/myimage',
    'xn--7o8h.com/myimage:xn--7o8h.com',
    'a.b-c.d:443/x',
  ]) {
    assert.doesNotThrow(() => parseReference(text), text);
  }
});

test('invalid names are usage errors naming the reference', () => {
  for (const text of [
    '',
    'https://github.com/docker/docker',
    'docker/Docker',
    'Uppercase:tag',
    '-docker',
    '-docker/docker',
    '-docker.io/docker/docker',
    'docker///docker',
    'docker.io/docker/Docker',
    'docker.io/docker///docker',
    '[fc00::1]',
    '[fc00::1]:5000',
    'fc00::1:5000/foo',
    '[fc00::1]:5000/foo/bar/baz/Docker',
    hex,
    'name:',
    'name:-tag',
    `name:${'t'.repeat(129)}`,
    'name@sha256:abc',
    `name@sha512:${hex}${hex}`,
    `name@sha256:${hex.toUpperCase()}`,
    'a/b:c/d',
    'a b',
    `${'a'.repeat(256)}`,
    'trailing/',
    'x__-y',
    // A dot makes the first component a host, and a host may not hold '_'.
    'a__b.c/d',
  ]) {
    assert.throws(() => parseReference(text), (err: unknown) => err instanceof UsageError && err.message.includes(JSON.stringify(text)), text);
  }
  assert.doesNotThrow(() => parseReference(`name:${'t'.repeat(128)}`));
  // Total name length: 255 counts the normalised "docker.io/library/" prefix too, as docker's Parse sees it.
  assert.doesNotThrow(() => parseReference('a'.repeat(255 - 'docker.io/library/'.length)));
  assert.throws(() => parseReference('a'.repeat(256 - 'docker.io/library/'.length)), UsageError);
});

test('sameReference: the one equality, after normalisation; sameRepository ignores tag and digest', () => {
  const same = (a: string, b: string): boolean => sameReference(parseReference(a), parseReference(b));
  assert.equal(same('base', 'docker.io/library/base:latest'), true);
  assert.equal(same('index.docker.io/library/debian:12', 'debian:12'), true);
  assert.equal(same('base', 'base:1.0'), false);
  assert.equal(same('base', 'localhost/base'), false);
  assert.equal(same('ns/app', 'app'), false);
  assert.equal(same(`base@sha256:${hex}`, `docker.io/library/base@sha256:${hex}`), true);
  assert.equal(same(`base@sha256:${hex}`, 'base:latest'), false);
  assert.equal(same(`base:1@sha256:${hex}`, `base@sha256:${hex}`), false);
  assert.equal(sameRepository(parseReference('base:1.0'), parseReference(`docker.io/library/base@sha256:${hex}`)), true);
  assert.equal(sameRepository(parseReference('base'), parseReference('registry:5000/base')), false);
});
