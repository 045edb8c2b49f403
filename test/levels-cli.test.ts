/** --level as every command takes it, checked before the store is touched. (The table itself: test/levels.test.ts.) */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, rootfs, runOk } from './helpers.js';

test('every command with --level checks it the same way before touching the store: import, squash, save', async (t) => {
  const work = makeTempDir(t);
  const store = join(work, 'store');
  writeFileSync(join(work, 'f'), 'x');
  const tar = join(work, 'f.tar');
  await runOk('tar', ['-C', work, '-cf', tar, 'f']);
  const cases: Array<[string[], string]> = [
    [['import', tar, '--compression', 'zstd', '--level', '25'], '--level 25: zstd levels are 1 to 19 (default 3)'],
    [['import', tar, '--compression', 'zstd', '--level', '22'], '--level 22: zstd levels are 1 to 19 (default 3)'],
    [['import', tar, '--level', '0'], '--level 0: gzip levels are 1 to 9 (default 6)'],
    [['import', tar, '--compression', 'none', '--level', '5'], '--level applies to gzip and zstd; --compression none has no levels'],
    [['squash', 'x:1', '--level', '10'], '--level 10: gzip levels are 1 to 9 (default 6)'],
    [['squash', 'x:1', '--compression', 'none', '--level', '1'], '--level applies to gzip and zstd; --compression none has no levels'],
    [['save', 'x:1', '--level', '3', '-o', join(work, 'a.tar')], '--level applies to gzip and zstd; --compression keep has no levels'],
    [['save', 'x:1', '--compression', 'zstd', '--level', '20', '-o', join(work, 'a.tar')], '--level 20: zstd levels are 1 to 19 (default 3)'],
  ];
  for (const [args, message] of cases) {
    const result = await rootfs(['--store', store, ...args]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr, `rootfs: ${args[0]}: ${message}; usage: rootfs ${args[0] === 'save' ? 'save <...refs>' : args[0] === 'squash' ? 'squash <ref> [newref]' : 'import <file> [ref]'} [options]\n`, args.join(' '));
  }
  const imported = await rootfs(['--store', store, 'import', tar, 'x:1', '--compression', 'zstd', '--level', '19']);
  assert.equal(imported.code, 0, imported.stderr);
  const saved = await rootfs(['--store', store, 'save', 'x:1', '--compression', 'gzip', '--level', '9', '-o', join(work, 'a.tar')]);
  assert.equal(saved.code, 0, saved.stderr);
});
