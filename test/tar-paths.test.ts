// tier: unit
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../src/errors.js';
import { safeLinkTarget, safeMemberPath } from '../src/tar/paths.js';

const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));

test('normalises leading ./, doubled slashes, /./ and a directory trailing slash', () => {
  assert.equal(safeMemberPath(b('./a//b/'), 'x.tar').toString(), 'a/b');
  assert.equal(safeMemberPath(b('a/./b/./c'), 'x.tar').toString(), 'a/b/c');
  assert.equal(safeMemberPath(b('etc/passwd'), 'x.tar').toString(), 'etc/passwd');
  assert.equal(safeMemberPath(b('.../..a/a..'), 'x.tar').toString(), '.../..a/a..');
});

test('the archive root comes back as "."', () => {
  for (const root of ['./', '.', './/./']) assert.equal(safeMemberPath(b(root), 'x.tar').toString(), '.');
});

test('non-UTF-8 names are kept byte for byte and shown escaped in errors', () => {
  const name = b([0x61, 0xff, 0x2f, 0x2f, 0x62]);
  assert.deepEqual(safeMemberPath(name, 'x.tar'), b([0x61, 0xff, 0x2f, 0x62]));
  assert.throws(() => safeMemberPath(b([0x2e, 0x2e, 0x2f, 0xfe]), 'x.tar'), /x\.tar: member '\.\.\/\\xfe': '\.\.' component/);
});

test('refuses traversal, absolute names, NUL bytes and empty names, naming the member', () => {
  const cases: [string, RegExp][] = [
    ['../x', /^x\.tar: member '\.\.\/x': '\.\.' component$/],
    ['a/../../x', /member 'a\/\.\.\/\.\.\/x': '\.\.' component/],
    ['a/..', /'\.\.' component/],
    ['/etc/passwd', /^x\.tar: member '\/etc\/passwd': absolute path$/],
    ['a\0b', /^x\.tar: member 'a\\x00b': name contains a NUL byte$/],
    ['', /empty name/],
  ];
  for (const [name, message] of cases) {
    assert.throws(
      () => safeMemberPath(b(name), 'x.tar'),
      (err: unknown) => err instanceof InvalidInputError && message.test(err.message),
      name,
    );
  }
});

test('hardlink targets get the same checks', () => {
  assert.equal(safeLinkTarget(b('./usr//bin/x'), 'x.tar').toString(), 'usr/bin/x');
  assert.throws(() => safeLinkTarget(b('../../etc/shadow'), 'x.tar: evil'), /x\.tar: evil: hardlink target '\.\.\/\.\.\/etc\/shadow': '\.\.' component$/);
  assert.throws(() => safeLinkTarget(b('/etc/shadow'), 'x.tar'), /hardlink target '\/etc\/shadow': absolute path/);
});
