/**
 * A new user's walkthrough on the merged code: what broke where the parts
 * built separately meet (issue 11's list, re-run after the merge of 13 and 14).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cliPath, makeTempDir, rootfs, runOk } from './helpers.js';
import { assertInterrupted, bigTree, signalWhenCreated, start } from './interrupting.js';

async function storeWithBigImage(dir: string): Promise<Record<string, string>> {
  const env = { ROOTFS_STORE: join(dir, 'store') };
  await runOk(process.execPath, [cliPath, 'import', '--compression', 'none', bigTree(dir), 'big:1'], { env });
  return env;
}

describe('an interrupt leaves no directory the command made or filled', () => {
  test('SIGINT during split -o NEW/DIR: neither NEW nor DIR is left', async (t) => {
    const dir = makeTempDir(t);
    const input = join(dir, 'in.bin');
    writeFileSync(input, Buffer.alloc(8 << 20, 1));
    const out = join(dir, 'out');
    mkdirSync(out);
    const { child, exit } = start(['split', input, '--size', '1M', '-o', join(out, 'new', 'parts')], {});
    await signalWhenCreated(out, /^new$/, child, 'SIGINT');
    assertInterrupted(await exit, 'split', 'SIGINT');
    assert.deepEqual(readdirSync(out), []);
  });

  test('SIGINT during unpack into a missing DIR: no DIR; into an empty DIR: it is empty again', async (t) => {
    const dir = makeTempDir(t);
    const env = await storeWithBigImage(dir);
    const out = join(dir, 'out');
    mkdirSync(out);
    const missing = start(['unpack', 'big:1', join(out, 'tree')], env);
    await signalWhenCreated(out, /^tree$/, missing.child, 'SIGINT');
    assertInterrupted(await missing.exit, 'unpack', 'SIGINT');
    assert.deepEqual(readdirSync(out), []);

    const empty = join(out, 'empty');
    mkdirSync(empty);
    const filling = start(['unpack', 'big:1', empty], env);
    await signalWhenCreated(empty, /^big$/, filling.child, 'SIGINT');
    assertInterrupted(await filling.exit, 'unpack', 'SIGINT');
    assert.deepEqual(readdirSync(empty), []);
  });

  test('SIGINT during save -o oci:NEW/LAYOUT: NEW is not left either', async (t) => {
    const dir = makeTempDir(t);
    const env = await storeWithBigImage(dir);
    const out = join(dir, 'out');
    mkdirSync(out);
    const { child, exit } = start(['save', 'big:1', '-o', `oci:${join(out, 'new', 'layout')}`], env);
    await signalWhenCreated(out, /^new$/, child, 'SIGINT');
    assertInterrupted(await exit, 'save', 'SIGINT');
    assert.equal(existsSync(join(out, 'new')), false);
  });
});

describe('plurals in the new commands', () => {
  test('import DIR --base reads "1 file", not "1 files"', async (t) => {
    const dir = makeTempDir(t);
    const env = { ROOTFS_STORE: join(dir, 'store') };
    const root = join(dir, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc', 'a'), 'a\n');
    await runOk(process.execPath, [cliPath, 'import', root, 'b:1'], { env });
    writeFileSync(join(root, 'etc', 'b'), 'b\n');
    const result = await rootfs(['import', root, 'b:2', '--base', 'b:1'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /read from 1 file\b/);
    assert.doesNotMatch(result.stderr, /\b1 files\b/);
  });
});
