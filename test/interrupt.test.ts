/**
 * Interrupted and killed commands leave nothing behind, and a closed stdout is
 * not a crash. The signals land mid-way for real: a watch on the output
 * directory (or the store's tmp/) fires the moment the command creates its
 * temp file, or the input is a pipe this test holds open.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cliPath, every, makeTempDir, rootfs, runOk, waitFor } from './helpers.js';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function start(args: string[], env: Record<string, string>): { child: ChildProcessWithoutNullStreams; exit: Promise<Exit> } {
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  child.stdin.on('error', () => {});
  const exit = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, exit };
}

/** Sends signal to child as soon as a name matching pattern appears in dir (before the command can finish with it). */
function signalWhenCreated(dir: string, pattern: RegExp, child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): Promise<string> {
  return new Promise((resolve) => {
    const watcher = watch(dir, (_event, name) => {
      if (name === null || !pattern.test(String(name))) return;
      watcher.close();
      child.kill(signal);
      resolve(String(name));
    });
    child.on('close', () => {
      watcher.close();
      resolve('');
    });
  });
}

/** Resolves once one of pid's threads sleeps in the kernel function wchan (read from /proc, which announces nothing); fails after 20 s. */
async function waitForKernelWait(pid: number, wchan: string): Promise<void> {
  const waiting = (): boolean => (existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`) : []).some((task) => readWchan(pid, task) === wchan);
  await waitFor(`process ${pid} to wait in ${wchan}`, waiting, [every(50)]);
}

function readWchan(pid: number, task: string): string {
  try {
    return readFileSync(`/proc/${pid}/task/${task}/wchan`, 'utf8');
  } catch {
    return '';
  }
}

/** A tree with one file big enough that writing it takes far longer than a signal takes to arrive. */
function bigTree(dir: string): string {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'hostname'), 'box\n');
  writeFileSync(join(root, 'big'), randomBytes(64 << 20));
  return root;
}

function assertInterrupted(exit: Exit, command: string, signal: 'SIGINT' | 'SIGTERM'): void {
  assert.equal(exit.signal, null, `${command} died of ${exit.signal} instead of exiting`);
  assert.equal(exit.code, signal === 'SIGINT' ? 130 : 143, exit.stderr);
  assert.match(exit.stderr, new RegExp(`^rootfs: ${command} interrupted by ${signal}; nothing was kept.*\\n$`, 'm'));
  assert.doesNotMatch(exit.stderr, /\n\s+at /, 'no stack trace');
}

async function storeWithBigImage(dir: string): Promise<Record<string, string>> {
  const env = { ROOTFS_STORE: join(dir, 'store') };
  await runOk(process.execPath, [cliPath, 'import', '--compression', 'none', bigTree(dir), 'big:1'], { env });
  return env;
}

describe('an interrupted command leaves nothing behind', () => {
  test('SIGINT during pack -o FILE: no FILE, no .FILE.tmp-*, exit 130', async (t) => {
    const dir = makeTempDir(t);
    const root = bigTree(dir);
    const out = join(dir, 'out');
    mkdirSync(out);
    const { child, exit } = start(['pack', root, '-o', join(out, 'host.tar')], {});
    const seen = await signalWhenCreated(out, /^\.host\.tar\.tmp-/, child, 'SIGINT');
    assert.match(seen, /^\.host\.tar\.tmp-\d+-[0-9a-f]{12}$/);
    assertInterrupted(await exit, 'pack', 'SIGINT');
    assert.deepEqual(readdirSync(out), []);
  });

  test('SIGTERM during save -o FILE: no FILE, no temp file or spool, exit 143; the store is as it was', async (t) => {
    const dir = makeTempDir(t);
    const root = bigTree(dir);
    const env = { ROOTFS_STORE: join(dir, 'store') };
    await runOk('sh', ['-c', `"${process.execPath}" "${cliPath}" pack "${root}" | "${process.execPath}" "${cliPath}" import --compression none - big:1`], { env });
    const index = readFileSync(join(dir, 'store', 'index.json'));
    const out = join(dir, 'out');
    mkdirSync(out);
    const { child, exit } = start(['save', 'big:1', '-o', join(out, 'big.tar')], env);
    await signalWhenCreated(out, /^\.big\.tar\.tmp-/, child, 'SIGTERM');
    assertInterrupted(await exit, 'save', 'SIGTERM');
    assert.deepEqual(readdirSync(out), []);
    assert.deepEqual(readFileSync(join(dir, 'store', 'index.json')), index);
    assert.deepEqual(readdirSync(join(dir, 'store', '.rootfs', 'tmp')), []);
  });

  test('SIGINT during import from a pipe: no blob left in the store\'s tmp/, blobs/ and index.json unchanged', async (t) => {
    const dir = makeTempDir(t);
    const root = bigTree(dir);
    const tar = join(dir, 'root.tar');
    await runOk(process.execPath, [cliPath, 'pack', root, '-o', tar]);
    const store = join(dir, 'store');
    await runOk(process.execPath, [cliPath, 'gc'], { env: { ROOTFS_STORE: store } });
    const blobs = readdirSync(join(store, 'blobs', 'sha256'));
    const index = readFileSync(join(store, 'index.json'));
    const { child, exit } = start(['import', '-', 'half:1'], { ROOTFS_STORE: store });
    const signalled = signalWhenCreated(join(store, '.rootfs', 'tmp'), /^blob-/, child, 'SIGINT');
    // Half the archive, and the pipe stays open: import is mid-way, waiting for more, when the signal comes.
    child.stdin.write(readFileSync(tar).subarray(0, 32 << 20));
    await signalled;
    assertInterrupted(await exit, 'import', 'SIGINT');
    assert.deepEqual(readdirSync(join(store, '.rootfs', 'tmp')), []);
    assert.deepEqual(readdirSync(join(store, 'blobs', 'sha256')), blobs);
    assert.deepEqual(readFileSync(join(store, 'index.json')), index);
  });

  for (const [command, signal] of [['load', 'SIGINT'], ['import', 'SIGTERM'], ['append', 'SIGINT'], ['diff', 'SIGTERM']] as const) {
    test(`${signal} while ${command} waits for a writer on a FIFO: the process ends (${signal === 'SIGINT' ? 130 : 143}), the store is as it was`, async (t) => {
      const dir = makeTempDir(t);
      const store = join(dir, 'store');
      const fifo = join(dir, 'fifo');
      await runOk('mkfifo', [fifo]);
      const env = { ROOTFS_STORE: store };
      if (command !== 'load' && command !== 'import') {
        const tar = join(dir, 'base.tar');
        await runOk(process.execPath, [cliPath, 'pack', bigTree(join(dir, 'base')), '-o', tar]);
        await runOk(process.execPath, [cliPath, 'import', tar, 'base:1'], { env });
      } else await runOk(process.execPath, [cliPath, 'gc'], { env });
      const index = readFileSync(join(store, 'index.json'));
      const args = { load: ['load', '-i', fifo], import: ['import', fifo, 'x:1'], append: ['append', 'base:1', fifo, 'base:2'], diff: ['diff', 'base:1', fifo] }[command];
      const { child, exit } = start(args, env);
      // The open(2) of a FIFO without a writer sleeps in the kernel's wait_for_partner: the moment to signal.
      await waitForKernelWait(child.pid!, 'wait_for_partner');
      child.kill(signal);
      assertInterrupted(await exit, command, signal);
      assert.deepEqual(readFileSync(join(store, 'index.json')), index);
      assert.deepEqual(readdirSync(join(store, '.rootfs', 'tmp')), []);
    });
  }

  test('SIGINT during split: every part written so far is removed, no manifest; the directory is as before', async (t) => {
    const dir = makeTempDir(t);
    const out = join(dir, 'parts');
    mkdirSync(out);
    writeFileSync(join(out, 'unrelated.txt'), 'mine\n');
    const { child, exit } = start(['split', '-', '--name', 'data.bin', '--size', '1M', '-o', out], {});
    // The third part's temp file appears once two parts are complete under their final names.
    const signalled = signalWhenCreated(out, /^\.data\.bin\.part0003-/, child, 'SIGINT');
    child.stdin.write(randomBytes(3 << 20));
    await signalled;
    assertInterrupted(await exit, 'split', 'SIGINT');
    assert.deepEqual(readdirSync(out), ['unrelated.txt']);
  });

  test('SIGINT while split --parity computes the parity: the parts and every parity file go too', async (t) => {
    const dir = makeTempDir(t);
    const out = join(dir, 'parts');
    mkdirSync(out);
    writeFileSync(join(out, 'unrelated.txt'), 'mine\n');
    const { child, exit } = start(['split', '-', '--name', 'data.bin', '--size', '1M', '--parity', '20', '-o', out], {});
    // The last part's final name appears when the input is done: the parity pass (seconds for 20 MiB at 20%) starts then.
    const signalled = signalWhenCreated(out, /^data\.bin\.part0020$/, child, 'SIGINT');
    child.stdin.end(randomBytes(20 << 20));
    assert.equal(await signalled, 'data.bin.part0020');
    assertInterrupted(await exit, 'split', 'SIGINT');
    assert.deepEqual(readdirSync(out), ['unrelated.txt']);
  });
});

describe('leftovers of a killed command are recognised and removed by the next run', () => {
  /** A PID that was alive a moment ago and is not now. */
  async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.on('close', resolve));
    return child.pid!;
  }

  test('pack -o FILE removes .FILE.tmp-PID-* of a dead PID, keeps a live one\'s and other files\'', async (t) => {
    const dir = makeTempDir(t);
    mkdirSync(join(dir, 'root'));
    writeFileSync(join(dir, 'root', 'f'), 'x');
    const out = join(dir, 'out');
    mkdirSync(out);
    const dead = `.host.tar.tmp-${await deadPid()}-0123456789ab`;
    const live = `.host.tar.tmp-${process.pid}-0123456789ab`;
    const other = `.other.tar.tmp-${await deadPid()}-0123456789ab`;
    for (const name of [dead, live, other]) writeFileSync(join(out, name), 'half an archive');
    await runOk(process.execPath, [cliPath, 'pack', join(dir, 'root'), '-o', join(out, 'host.tar')]);
    assert.deepEqual(readdirSync(out).sort(), [live, other, 'host.tar'].sort());
  });

  test('a write command on a store removes tmp/ files of dead PIDs and keeps a running command\'s', async (t) => {
    const dir = makeTempDir(t);
    const store = join(dir, 'store');
    const env = { ROOTFS_STORE: store };
    await runOk(process.execPath, [cliPath, 'gc'], { env });
    const tmp = join(store, '.rootfs', 'tmp');
    const dead = [`blob-${await deadPid()}-0123456789ab`, `.index.json.tmp-${await deadPid()}-0123456789ab`];
    const live = `blob-${process.pid}-0123456789ab`;
    for (const name of [...dead, live]) writeFileSync(join(tmp, name), 'partial');
    mkdirSync(join(dir, 'root'));
    writeFileSync(join(dir, 'root', 'f'), 'x');
    await runOk('sh', ['-c', `"${process.execPath}" "${cliPath}" pack "${join(dir, 'root')}" | "${process.execPath}" "${cliPath}" import - small:1`], { env });
    assert.deepEqual(readdirSync(tmp), [live]);
  });

  test('split removes part temp files of a dead split of the same set, not those of a live one', async (t) => {
    const dir = makeTempDir(t);
    const out = join(dir, 'parts');
    mkdirSync(out);
    const dead = `.data.bin.part0001-${await deadPid()}-0123456789ab`;
    const live = `.data.bin.part0001-${process.pid}-0123456789ab`;
    for (const name of [dead, live]) writeFileSync(join(out, name), 'partial');
    const result = await rootfs(['split', '-', '--name', 'data.bin', '--size', '1M', '-o', out], { input: randomBytes(1000) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(existsSync(join(out, dead)), false);
    assert.equal(existsSync(join(out, live)), true);
  });
});

describe('a closed stdout', () => {
  /** Runs the CLI with the reading end of its stdout closed before it writes a byte. */
  function withClosedStdout(args: string[], env: Record<string, string>): Promise<Exit> {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  }

  test('listings (images, images --json, presets, gc, inspect, split) exit 0 quietly', async (t) => {
    const dir = makeTempDir(t);
    const env = { ROOTFS_STORE: join(dir, 'store') };
    mkdirSync(join(dir, 'root'));
    writeFileSync(join(dir, 'root', 'f'), 'x');
    await runOk('sh', ['-c', `"${process.execPath}" "${cliPath}" pack "${join(dir, 'root')}" | "${process.execPath}" "${cliPath}" import - small:1`], { env });
    writeFileSync(join(dir, 'data'), randomBytes(3000));
    for (const args of [['images'], ['images', '--json'], ['presets'], ['gc'], ['inspect', 'small:1'], ['split', join(dir, 'data'), '--size', '1M', '-o', join(dir, 'parts')]]) {
      const exit = await withClosedStdout(args, env);
      assert.equal(exit.code, 0, `${args.join(' ')}: ${exit.stderr}`);
      assert.doesNotMatch(exit.stderr, /rootfs:|EPIPE|\n\s+at /, args.join(' '));
    }
  });

  test('save, export and pack to a closed pipe: one line naming stdout, exit 141', async (t) => {
    const dir = makeTempDir(t);
    const root = bigTree(dir);
    const env = { ROOTFS_STORE: join(dir, 'store') };
    await runOk('sh', ['-c', `"${process.execPath}" "${cliPath}" pack "${root}" | "${process.execPath}" "${cliPath}" import --compression none - big:1`], { env });
    for (const args of [['save', 'big:1'], ['export', 'big:1'], ['pack', root]]) {
      const exit = await withClosedStdout(args, env);
      assert.equal(exit.code, 141, `${args.join(' ')}: ${exit.stderr}`);
      assert.equal(exit.stderr, 'rootfs: stdout: the reader closed the pipe before the output was complete\n', args.join(' '));
    }
  });
});

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
