/**
 * `rootfs diff A B --packages`: packages added, changed and removed between
 * two captures, from their package databases; B an image or a directory.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, rootfs } from './helpers.js';
import { alpineRoot, apkInstalled } from './sbom-fixtures.js';

test('diff --packages: added, changed and removed, image against image or directory; --json; file flags refused', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  const r = (...args: string[]) => rootfs(['--store', store, ...args]);
  const before = alpineRoot(join(work, 'before'), apkInstalled);
  // musl upgraded, busybox-binsh removed, zlib added.
  const next = apkInstalled.replace('V:1.2.4_git20230717-r4', 'V:1.2.4_git20230717-r5').replace(/P:busybox-binsh[\s\S]*$/, 'P:zlib\nV:1.3.1-r0\nA:x86_64\nL:Zlib\n');
  const after = alpineRoot(join(work, 'after'), next);
  for (const [root, ref] of [[before, 'alp:1'], [after, 'alp:2']] as const) assert.equal((await r('import', root, ref, '-q')).code, 0);
  const expected = ['D busybox-binsh:x86_64 1.36.1-r15', 'C musl:x86_64 1.2.4_git20230717-r4 -> 1.2.4_git20230717-r5', 'A zlib:x86_64 1.3.1-r0', ''].join('\n');
  for (const b of ['alp:2', after]) {
    const result = await r('diff', 'alp:1', b, '--packages');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), expected, b);
  }
  const json = await r('diff', 'alp:1', 'alp:2', '--packages', '--json');
  assert.deepEqual(JSON.parse(json.stdout.toString()), [
    { kind: 'D', type: 'apk', name: 'busybox-binsh', arch: 'x86_64', from: '1.36.1-r15' },
    { kind: 'C', type: 'apk', name: 'musl', arch: 'x86_64', from: '1.2.4_git20230717-r4', to: '1.2.4_git20230717-r5' },
    { kind: 'A', type: 'apk', name: 'zlib', arch: 'x86_64', to: '1.3.1-r0' },
  ]);
  assert.equal((await r('diff', 'alp:1', 'alp:1', '--packages')).stdout.toString(), '');
  const refused = await r('diff', 'alp:1', 'alp:2', '--packages', '--stat');
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--packages lists packages/);
});
