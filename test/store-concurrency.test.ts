/**
 * Real processes against one store: concurrent index updates must all land,
 * and a process killed with SIGKILL mid-write must leave a valid store whose
 * locks the kernel has released.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseReference } from '../src/oci/reference.js';
import { FileLock } from '../src/store/lock.js';
import { Store } from '../src/store/store.js';
import { atEnd, each, makeTempDir, requireTools, rootfs, runOk, waitFor } from './helpers.js';
import { LockedError } from '../src/errors.js';
import { resolveImage } from '../src/store/resolve.js';
import { buildImage } from './fixtures.js';

const storeModule = new URL('../src/store/store.js', import.meta.url).href;
const referenceModule = new URL('../src/oci/reference.js', import.meta.url).href;

/** Watches this process's tries of store locks from now on (the spy is undone when the test ends); refused() waits for one another holder refuses. */
function lockTries(t: import('node:test').TestContext): { refused: () => Promise<void> } {
  const attempt = Object.getOwnPropertyDescriptor(FileLock.prototype, 'try')!;
  atEnd(t, () => {
    Object.defineProperty(FileLock.prototype, 'try', attempt);
  });
  const tries = new EventEmitter();
  let refusals = 0;
  Object.defineProperty(FileLock.prototype, 'try', {
    ...attempt,
    value(this: FileLock, exclusive: boolean): boolean {
      const granted = (attempt.value as FileLock['try']).call(this, exclusive);
      if (!granted) refusals++;
      tries.emit('try');
      return granted;
    },
  });
  return { refused: () => waitFor('a try of a store lock refused by its holder', () => refusals > 0, [each(tries, 'try')]) };
}

/** Runs an ES module snippet in a fresh node process with Store and parseReference imported; argv[1..] are args. */
function spawnStoreScript(body: string, args: string[]): ChildProcess {
  const script = `import { Store } from ${JSON.stringify(storeModule)};\nimport { parseReference } from ${JSON.stringify(referenceModule)};\nconst args = process.argv.slice(1);\n${body}`;
  return spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves with the first stdout line; rejects if the child exits first. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.on('exit', (code) => reject(new Error(`child exited ${code} before its first line: ${err}`)));
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function killed(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  assert.equal((await exited(child)).signal, 'SIGKILL');
}

async function validateRefs(t: import('node:test').TestContext, dir: string, names: string[]): Promise<void> {
  if (!requireTools(t, 'oci-image-tool')) return;
  for (const name of names) await runOk('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${name}`, dir]);
}

test('4 processes tagging at once: every tag lands', async (t) => {
  const work = makeTempDir(t);
  const store = await Store.open(join(work, 'store'));
  atEnd(t, () => store.close());
  const image = await buildImage(store, work);
  const perProcess = 15;
  const children = [0, 1, 2, 3].map((p) =>
    spawnStoreScript(
      `const store = await Store.open(args[0]);
       const descriptor = JSON.parse(args[1]);
       for (let i = 0; i < ${perProcess}; i++) await store.tag(parseReference('p' + args[2] + '/img:' + i), descriptor);
       await store.close();`,
      [store.dir, JSON.stringify(image.manifest), String(p)],
    ),
  );
  const results = await Promise.all(children.map(exited));
  assert.deepEqual(results, children.map(() => ({ code: 0, signal: null })));
  const names = (await store.listImages()).map((entry) => entry.name).sort();
  assert.equal(names.length, 4 * perProcess);
  for (let p = 0; p < 4; p++) for (let i = 0; i < perProcess; i++) assert.ok(names.includes(`p${p}/img:${i}`), `p${p}/img:${i}`);
});

test('SIGKILL mid blob write: no blob appears, the store validates, gc removes the temp file', async (t) => {
  const work = makeTempDir(t);
  const store = await Store.open(join(work, 'store'));
  atEnd(t, () => store.close());
  await buildImage(store, work, { name: 'base:1' });
  const blobsBefore = readdirSync(join(store.dir, 'blobs', 'sha256')).sort();
  const indexBefore = readFileSync(join(store.dir, 'index.json'));

  const child = spawnStoreScript(
    `const store = await Store.open(args[0]);
     const writer = store.createBlobWriter();
     const chunk = Buffer.alloc(1 << 20, 7);
     let announced = false;
     // Announced after the first drain: some data has reached the temp file by then.
     const pump = () => {
       while (writer.write(chunk)) {}
       writer.once('drain', () => {
         if (!announced) { announced = true; process.stdout.write('writing\\n'); }
         pump();
       });
     };
     pump();`,
    [store.dir],
  );
  assert.equal(await firstLine(child), 'writing');
  await killed(child);

  const leftovers = readdirSync(join(store.dir, '.rootfs', 'tmp'));
  assert.equal(leftovers.length, 1, 'the killed writer left its temp file');
  assert.deepEqual(readdirSync(join(store.dir, 'blobs', 'sha256')).sort(), blobsBefore);
  assert.ok(readFileSync(join(store.dir, 'index.json')).equals(indexBefore));
  await validateRefs(t, store.dir, ['base:1']);
  // The in-use lock died with the process: gc can take it exclusively.
  const result = await store.gc();
  assert.equal(result.tempFilesRemoved, 1);
  assert.deepEqual(result.removed, []);
  assert.equal(existsSync(join(store.dir, '.rootfs', 'tmp', leftovers[0]!)), false);
});

test('SIGKILL mid index update: index.json unchanged, the lock is released, the store validates', async (t) => {
  const work = makeTempDir(t);
  const store = await Store.open(join(work, 'store'));
  atEnd(t, () => store.close());
  const image = await buildImage(store, work, { name: 'base:1' });
  const indexBefore = readFileSync(join(store.dir, 'index.json'));

  const child = spawnStoreScript(
    `const store = await Store.open(args[0]);
     await store.updateIndex(async (index) => {
       index.manifests = [];
       process.stdout.write('locked\\n');
       await new Promise(() => setInterval(() => {}, 1000));
     });`,
    [store.dir],
  );
  assert.equal(await firstLine(child), 'locked');
  // While the child holds the index lock, our update waits for it: its try of the lock is refused, and it goes on trying.
  let tagged = false;
  const locks = lockTries(t);
  const tagging = store.tag(parseReference('second'), image.manifest).then(() => (tagged = true));
  await locks.refused();
  assert.equal(tagged, false, 'an index update waits while another process holds the lock');
  assert.ok(readFileSync(join(store.dir, 'index.json')).equals(indexBefore), 'nothing is written before fn returns');
  await killed(child);
  await tagging;

  // The killed update (which emptied the list) never reached the disk; ours did.
  const index = JSON.parse(readFileSync(join(store.dir, 'index.json'), 'utf8'));
  assert.deepEqual(index.manifests.map((entry: { annotations: Record<string, string> }) => entry.annotations['org.opencontainers.image.ref.name']), ['base:1', 'second:latest']);
  await validateRefs(t, store.dir, ['base:1', 'second:latest']);
});

test('gc waits for commands that hold the store, so an untagged blob of a running import survives', async (t) => {
  const work = makeTempDir(t);
  const store = await Store.open(join(work, 'store'));
  atEnd(t, () => store.close());
  const image = await buildImage(store, work);

  // The child plays an import: it has written its manifest's blobs but not tagged them yet.
  const child = spawnStoreScript(
    `const store = await Store.open(args[0]);
     process.stdout.write('written\\n');
     process.stdin.once('data', async () => {
       await store.tag(parseReference('late'), JSON.parse(args[1]));
       await store.close();
       process.stdin.destroy();
     });`,
    [store.dir, JSON.stringify(image.manifest)],
  );
  assert.equal(await firstLine(child), 'written');
  let collected = false;
  let waiting = false;
  const told = new EventEmitter();
  const collecting = store.gc({ onWait: () => told.emit('wait', (waiting = true)) }).then((result) => {
    collected = true;
    return result;
  });
  await waitFor('gc to say it waits for the in-use lock', () => waiting, [each(told, 'wait')]);
  assert.equal(collected, false, 'gc waits for the in-use lock');
  child.stdin!.write('tag now\n');
  assert.deepEqual(await exited(child), { code: 0, signal: null }, 'the tag found its blobs');
  assert.deepEqual((await collecting).removed, []);
  assert.equal((await resolveImage(store, 'late')).manifestDescriptor.digest, image.manifest.digest);
});

test('gc --no-wait fails with exit code 6 while another command uses the store, and keeps its own hold on it', async (t) => {
  const work = makeTempDir(t);
  const holder = await Store.open(join(work, 'store'));
  const other = await Store.open(holder.dir);
  atEnd(t, async () => {
    await other.close();
  });

  const busy = await rootfs(['--store', holder.dir, 'gc', '--no-wait']);
  assert.equal(busy.code, 6, busy.stderr);
  assert.match(busy.stderr, /^rootfs: .*store: other rootfs commands are using the store; gc runs when they have finished\n$/);

  await assert.rejects(other.gc({ wait: false }), LockedError);
  await holder.close();
  // The failed attempt gave `other` its shared hold back: a gc elsewhere still cannot start.
  assert.equal((await rootfs(['--store', holder.dir, 'gc', '--no-wait'])).code, 6);
  assert.deepEqual((await other.gc({ wait: false })).removed, []);
});
