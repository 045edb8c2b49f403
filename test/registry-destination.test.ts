// tier: unit
/** destinationOn: the name an image takes on another registry. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fullName, parseReference } from '../src/oci/reference.js';
import { destinationOn } from '../src/registry/push.js';

test('destinationOn keeps the path below the registry, dropping docker.io\'s library/ as docker users do', () => {
  const on = (name: string): string => fullName(destinationOn('reg.site:5000', parseReference(name)));
  assert.equal(on('base'), 'reg.site:5000/base:latest');
  assert.equal(on('base:1.0'), 'reg.site:5000/base:1.0');
  assert.equal(on('ns/app:2'), 'reg.site:5000/ns/app:2');
  assert.equal(on('library/a/b:1'), 'reg.site:5000/library/a/b:1');
  assert.equal(on('quay.io/ns/app:3'), 'reg.site:5000/ns/app:3');
  assert.equal(on('localhost:5000/x@sha256:' + 'a'.repeat(64)), `reg.site:5000/x@sha256:${'a'.repeat(64)}`);
  assert.throws(() => destinationOn('bad host', parseReference('base')), { name: 'UsageError' });
});
