/**
 * Shared test plumbing: temp dirs that clean up after themselves, running the
 * real CLI as a child process, and running peer tools, skipping loudly when
 * one is truly absent (CI installs them all, so a skip there is a CI bug).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { copyFileSync, existsSync, linkSync, watch, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, type TestContext } from 'node:test';
import { native } from '../src/native/index.js';

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliPath = join(projectRoot, 'bin', 'rootfs.js');

const undoings = new WeakMap<TestContext, Array<() => unknown>>();

/**
 * Runs `undo` when the test ends, the last registered first (a registry is
 * stopped before its storage is removed), and every one runs even when an
 * earlier one fails. node:test's own after hooks run first-registered first
 * and stop at the first that throws, which once left a registry running and
 * a whole CI run waiting on it; so tests register through this, not t.after.
 */
export function atEnd(t: TestContext, undo: () => unknown): void {
  let stack = undoings.get(t);
  if (!stack) {
    const registered: Array<() => unknown> = [];
    undoings.set(t, (stack = registered));
    t.after(async () => {
      const failures: unknown[] = [];
      for (const each of registered.reverse()) {
        try {
          await each();
        } catch (error) {
          failures.push(error);
        }
      }
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `${failures.length} clean-ups failed`);
    });
  }
  stack.push(undo);
}

/** A temp dir shared by the tests of one describe block, removed after the last of them (call it in the block's body). */
export function suiteTempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), label));
  after(() => {
    if (!process.env.ROOTFS_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A fresh temp dir, removed when the test ends (kept if ROOTFS_KEEP_TMP is set, for debugging). */
export function makeTempDir(t: TestContext, label = 'rootfs-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), label));
  atEnd(t, () => {
    if (!process.env.ROOTFS_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  input?: Buffer | string | NodeJS.ReadableStream;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Runs any command, collecting output; never rejects on a non-zero exit. */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    child.stdin.on('error', () => {}); // the child may exit before reading all of it
    if (opts.input === undefined) child.stdin.end();
    else if (typeof opts.input === 'string' || Buffer.isBuffer(opts.input)) child.stdin.end(opts.input);
    else opts.input.pipe(child.stdin);
  });
}

/** Mounts for one test, undone before the temp dirs made before it are removed. */
export function mounter(t: TestContext): (args: string[]) => Promise<boolean> {
  const mounted: string[] = [];
  atEnd(t, async () => {
    for (const point of mounted.reverse()) await run('umount', ['-l', point]);
  });
  return async (args) => {
    const result = await run('mount', args);
    if (result.code !== 0) {
      skipLoudly(t, `SKIPPED: cannot mount here (${result.stderr.trim()}); one-file-system is not proven`);
      return false;
    }
    mounted.push(args[args.length - 1]!);
    return true;
  };
}

/** Runs our CLI (bin/rootfs.js) with the given arguments. */
export function rootfs(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [cliPath, ...args], opts);
}

/** Like run(), but throws with the command's stderr when it fails. */
export async function runOk(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await run(command, args, opts);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result;
}

/**
 * Resolves once the wall clock is past every inode change under dir by more
 * than the 1 s margin of src/layers/capture.ts: a capture begun after it
 * trusts every file of dir whose metadata matches, which a test of "nothing
 * read" needs. A wait for a clock event, bounded by the margin.
 */
export async function pastTheCaptureMargin(dir: string): Promise<void> {
  let newest = 0n;
  const walk = (path: string): void => {
    const stat = lstatSync(path, { bigint: true });
    if (stat.ctimeNs > newest) newest = stat.ctimeNs;
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  const wait = Number(newest / 1_000_000n) + 1100 - Date.now();
  if (wait > 0) await delay(wait);
}

/** One source of wake-ups for waitFor: subscribes wake, returns the unsubscribe. */
export type Wake = (wake: () => void) => () => void;

/** Every change under dir (inotify, new subdirectories included): a file created, written, renamed or removed. */
export function watching(dir: string): Wake {
  return (wake) => {
    const watcher = watch(dir, { recursive: true }, wake);
    // A watched directory removed mid-wait is one more event, not an uncaught error: the check and the deadline decide.
    watcher.on('error', wake);
    return () => watcher.close();
  };
}

/** Each `event` of emitter (a server's 'request', a stream's 'data'). */
export function each(emitter: EventEmitter, event: string): Wake {
  return (wake) => {
    emitter.on(event, wake);
    return () => emitter.off(event, wake);
  };
}

/** A re-check every ms: only for state no event announces (a thread's wchan in /proc, a port that starts answering). */
export function every(ms: number): Wake {
  return (wake) => {
    const timer = setInterval(wake, ms);
    return () => clearInterval(timer);
  };
}

/**
 * Resolves once check() holds, re-checked at each wake; rejects naming `what`
 * when the deadline passes first. The one way a test waits for something
 * another process or the event loop does: no sleep, no poll without end.
 */
export async function waitFor(what: string | (() => string), check: () => boolean | Promise<boolean>, wakes: Wake[], deadlineMs = 20_000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const stops: Array<() => void> = [];
    let done = false;
    let checking = false;
    let again = false;
    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      for (const stop of stops) stop();
      if (error === undefined) resolve();
      else reject(error instanceof Error ? error : new Error(String(error)));
    };
    const deadline = setTimeout(() => finish(new Error(`waited ${deadlineMs / 1000} s in vain for ${typeof what === 'string' ? what : what()}`)), deadlineMs);
    // One check at a time; a wake during an async check runs one more after it.
    const wake = (): void => {
      if (done) return;
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      void (async () => {
        try {
          if (await check()) finish();
        } catch (error) {
          finish(error);
        }
        checking = false;
        if (again && !done) {
          again = false;
          wake();
        }
      })();
    };
    for (const source of wakes) stops.push(source(wake));
    wake();
  });
}

const toolCache = new Map<string, boolean>();

export function haveTool(tool: string): boolean {
  let found = toolCache.get(tool);
  if (found === undefined) {
    found = spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
    toolCache.set(tool, found);
  }
  return found;
}

/**
 * True when every tool is installed; otherwise skips the test and says so on
 * stderr in capitals, so a skipped interop check is never silent.
 */
export function requireTools(t: TestContext, ...tools: string[]): boolean {
  const missing = tools.filter((tool) => !haveTool(tool));
  if (missing.length === 0) return true;
  skipLoudly(t, `SKIPPED: peer tool(s) not installed: ${missing.join(', ')} (install them as .ci/run does)`);
  return false;
}

/** True when running as root; otherwise skips loudly (device nodes, chown, mounts need it). */
export function requireRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  skipLoudly(t, 'SKIPPED: needs root (run the suite as root, as .ci/run does)');
  return false;
}

/**
 * Says on stderr in capitals that a check did not run, and why: the one
 * place a test skips (test/tiers.test.ts refuses t.skip anywhere else), so a
 * skip is never quiet. The reason names what is missing and how to get it.
 */
export function skipLoudly(t: TestContext, reason: string): void {
  sayLoudly(reason);
  t.skip(reason);
}

/** The stderr half of skipLoudly, for a test that still checks the rest (one encoder of two). */
export function sayLoudly(reason: string): void {
  process.stderr.write(`\n*** ${reason} ***\n`);
}

/**
 * Whether the addon has the libdeflate gzip encoder. Built without it while
 * libdeflate-dev is installed is a build to redo, not a machine without the
 * library: that fails instead of skipping.
 */
export function libdeflateBuilt(): boolean {
  if (native.gzipMember) return true;
  if (existsSync('/usr/include/libdeflate.h')) throw new Error('libdeflate-dev is installed but the addon was built without it: run npm rebuild');
  return false;
}

export const libdeflateAbsent = 'the addon was built without libdeflate (apt-get install libdeflate-dev && npm rebuild, as .ci/run does)';

/** True when the addon has libdeflate; otherwise skips loudly, saying how to get it. */
export function requireLibdeflate(t: TestContext): boolean {
  if (libdeflateBuilt()) return true;
  skipLoudly(t, `SKIPPED: ${libdeflateAbsent}`);
  return false;
}

/**
 * `oci-image-tool validate --type image --ref name=REF` on one image of a
 * layout. Debian's oci-image-tool (1.0.0-rc1) reports "descriptor retrieved
 * by refs … is not unique" for a unique name once index.json holds three or
 * more entries, and refuses a symlinked blobs/ dir; so it validates a view
 * beside the layout: the same blobs hardlinked, index.json holding that entry.
 */
export async function ociImageToolValidate(layout: string, refName: string): Promise<void> {
  const view = mkdtempSync(join(dirname(layout), '.oci-validate-'));
  try {
    copyFileSync(join(layout, 'oci-layout'), join(view, 'oci-layout'));
    for (const algorithm of readdirSync(join(layout, 'blobs'))) {
      mkdirSync(join(view, 'blobs', algorithm), { recursive: true });
      for (const blob of readdirSync(join(layout, 'blobs', algorithm))) {
        if (!blob.startsWith('.')) linkSync(join(layout, 'blobs', algorithm, blob), join(view, 'blobs', algorithm, blob));
      }
    }
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
    index.manifests = index.manifests.filter((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] === refName);
    if (index.manifests.length !== 1) throw new Error(`${layout}: ${index.manifests.length} index entries named ${refName}`);
    writeFileSync(join(view, 'index.json'), JSON.stringify(index));
    await runOk('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${refName}`, view]);
  } finally {
    rmSync(view, { recursive: true, force: true });
  }
}
