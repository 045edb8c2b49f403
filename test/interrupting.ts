/**
 * Interrupting the real CLI mid-way, for the tests of what an interrupt
 * leaves behind: the signal is sent the moment the command creates a name
 * (a watch, not a timer), on a tree big enough that it is still at work.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath } from './helpers.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export function start(args: string[], env: Record<string, string>): { child: ChildProcessWithoutNullStreams; exit: Promise<Exit> } {
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  child.stdin.on('error', () => {});
  const exit = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, exit };
}

/** Sends signal to child as soon as a name matching pattern appears in dir (before the command can finish with it). */
export function signalWhenCreated(dir: string, pattern: RegExp, child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): Promise<string> {
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

/** A tree with one file big enough that writing it takes far longer than a signal takes to arrive. */
export function bigTree(dir: string): string {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'hostname'), 'box\n');
  writeFileSync(join(root, 'big'), randomBytes(64 << 20));
  return root;
}

export function assertInterrupted(exit: Exit, command: string, signal: 'SIGINT' | 'SIGTERM'): void {
  assert.equal(exit.signal, null, `${command} died of ${exit.signal} instead of exiting`);
  assert.equal(exit.code, signal === 'SIGINT' ? 130 : 143, exit.stderr);
  assert.match(exit.stderr, new RegExp(`^rootfs: ${command} interrupted by ${signal}; nothing was kept.*\\n$`, 'm'));
  assert.doesNotMatch(exit.stderr, /\n\s+at /, 'no stack trace');
}

