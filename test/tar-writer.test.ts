// tier: unit
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TarWriter } from '../src/tar/writer.js';
import type { TarEntry } from '../src/tar/header.js';
import { InvalidInputError } from '../src/errors.js';
import { makeTempDir, requireTools, runOk } from './helpers.js';

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000 };

function entry(path: string | Buffer, fields: Partial<TarEntry>): TarEntry {
  return { ...base, path: Buffer.isBuffer(path) ? path : Buffer.from(path), type: 'file', ...fields };
}

/** A Readable yielding `count` chunks of `size` bytes of `fill`. */
function chunks(count: number, size: number, fill: number): Readable {
  return Readable.from((function* () {
    for (let i = 0; i < count; i++) yield Buffer.alloc(size, fill);
  })());
}

test('TarWriter output round-trips through GNU tar and bsdtar', async (t) => {
  if (!requireTools(t, 'tar', 'bsdtar')) return;
  const dir = makeTempDir(t);
  const archive = join(dir, 'out.tar');
  const longName = `${'d'.repeat(120)}/${'f'.repeat(79)}`; // 200 bytes
  const rawName = Buffer.concat([Buffer.from('bin-'), Buffer.from([0xff, 0xfe]), Buffer.from('-name')]);
  const writer = new TarWriter();
  const done = pipeline(writer, createWriteStream(archive));
  await writer.add(entry('dir/', { type: 'directory', mode: 0o1755 }));
  await writer.add(entry('dir/empty', {}), Buffer.alloc(0));
  await writer.add(entry('dir/one', { size: 1 }), Buffer.from('x'));
  await writer.add(entry('dir/block', { size: 512 }), Buffer.alloc(512, 0x62));
  await writer.add(entry('dir/odd', { size: 513, mode: 0o4755, uid: 3000000, gid: 4294967294 }), Buffer.alloc(513, 0x6f));
  await writer.add(entry('dir/streamed', { size: 5 * 65536 + 7 }), Readable.from([Buffer.alloc(5 * 65536, 0x73), Buffer.alloc(7, 0x74)]));
  await writer.add(entry('dir/link', { type: 'symlink', mode: 0o777, linkpath: Buffer.from('../nowhere') }));
  await writer.add(entry('dir/hard', { type: 'hardlink', linkpath: Buffer.from('dir/one') }));
  await writer.add(entry('dir/null', { type: 'chardev', mode: 0o666, devmajor: 1, devminor: 3 }));
  await writer.add(entry('dir/fifo', { type: 'fifo' }));
  await writer.add(entry(longName, { size: 3 }), Buffer.from('abc'));
  await writer.add(entry(rawName, { size: 2 }), Buffer.from('ff'));
  await writer.add(entry('dir/xattr', { xattrs: new Map([['user.bin', Buffer.from([0xff, 0xfe, 0x00])]]) }), Buffer.alloc(0));
  await writer.finish();
  await done;

  const gnu = (await runOk('tar', ['-tvv', '--numeric-owner', '--full-time', '--quoting-style=literal', '-f', archive])).stdout.toString('latin1');
  assert.match(gnu, /^-rwsr-xr-x 3000000\/4294967294 +513 2023-11-14 \d\d:13:20 dir\/odd$/m);
  assert.match(gnu, /^lrwxrwxrwx 0\/0 +0 .* dir\/link -> \.\.\/nowhere$/m);
  assert.match(gnu, /^hrw-r--r-- 0\/0 +0 .* dir\/hard link to dir\/one$/m);
  assert.match(gnu, /^crw-rw-rw- 0\/0 +1,3 .* dir\/null$/m);
  assert.match(gnu, /^prw-r--r-- 0\/0 +0 .* dir\/fifo$/m);
  assert.match(gnu, /^-rw-r--r-- 0\/0 +327687 .* dir\/streamed$/m);
  assert.ok(gnu.includes(` ${longName}\n`), 'long name listed in full');
  assert.ok(gnu.includes(` ${rawName.toString('latin1')}\n`), 'non-UTF-8 name listed with its bytes');

  const bsd = await runOk('bsdtar', ['-tvf', archive]);
  assert.equal(bsd.stdout.toString().trim().split('\n').length, 13);

  const out = join(dir, 'x');
  await runOk('mkdir', [out]);
  await runOk('tar', ['--xattrs', "--xattrs-include=*", '--numeric-owner', '-xpf', archive, '-C', out]);
  assert.equal(readFileSync(join(out, 'dir/streamed')).length, 327687);
  assert.equal(readFileSync(join(out, 'dir/odd')).toString(), 'o'.repeat(513));
  assert.equal(readFileSync(join(out, longName)).toString(), 'abc');
  assert.equal(readFileSync(Buffer.concat([Buffer.from(`${out}/`), rawName])).toString(), 'ff');
  assert.equal(readlinkSync(join(out, 'dir/link')), '../nowhere');
  assert.equal(lstatSync(join(out, 'dir/odd')).uid, 3000000);
  assert.equal(lstatSync(join(out, 'dir/hard')).ino, lstatSync(join(out, 'dir/one')).ino);
  const attr = await runOk('getfattr', ['-n', 'user.bin', '-e', 'hex', join(out, 'dir/xattr')]);
  assert.match(attr.stdout.toString(), /user\.bin=0xfffe00/);
});

test('TarWriter rejects a body that does not match the header size, naming the entry', async () => {
  for (const [body, size] of [
    [Buffer.from('abc'), 4],
    [Buffer.from('abcde'), 4],
    [chunks(3, 10, 1), 25],
    [chunks(3, 10, 1), 35],
  ] as const) {
    const writer = new TarWriter();
    writer.resume();
    writer.on('error', () => {});
    await assert.rejects(writer.add(entry('short/or/long', { size }), body), (err: Error) => {
      assert.ok(err instanceof InvalidInputError);
      assert.match(err.message, /^short\/or\/long: body has .* bytes, header says \d+$/);
      return true;
    });
    assert.ok(writer.destroyed, 'a broken archive is not left looking complete');
    await assert.rejects(writer.finish());
  }
});

test('TarWriter waits for its consumer instead of buffering a body', async () => {
  const chunkSize = 64 * 1024;
  let produced = 0;
  let maxAhead = 0;
  let consumed = 0;
  const body = Readable.from((function* () {
    for (let i = 0; i < 128; i++) {
      produced += chunkSize;
      maxAhead = Math.max(maxAhead, produced - consumed);
      yield Buffer.alloc(chunkSize);
    }
  })());
  const writer = new TarWriter();
  const sink = new Writable({
    highWaterMark: chunkSize,
    write(chunk: Buffer, _encoding, callback) {
      consumed += chunk.length;
      setImmediate(callback);
    },
  });
  const done = pipeline(writer, sink);
  await writer.add(entry('big', { size: 128 * chunkSize }), body);
  await writer.finish();
  await done;
  assert.equal(consumed, 512 + 128 * chunkSize + 1024);
  // The body's own buffer, the writer's and the sink's: a handful of chunks, not the 8 MiB file.
  assert.ok(maxAhead <= 40 * chunkSize, `producer ran ${maxAhead} bytes ahead of the consumer`);
});

test('TarWriter serialises concurrent add() calls in call order', async () => {
  const writer = new TarWriter();
  const parts: Buffer[] = [];
  writer.on('data', (chunk: Buffer) => parts.push(chunk));
  const ended = new Promise((resolve) => writer.on('end', resolve));
  await Promise.all([
    writer.add(entry('a', { size: 3 * 1000 }), chunks(3, 1000, 0x61)),
    writer.add(entry('b', { size: 1 }), Buffer.from('b')),
    writer.finish(),
  ]);
  await ended;
  const tar = Buffer.concat(parts);
  assert.equal(tar.subarray(0, 1).toString(), 'a');
  assert.equal(tar.subarray(512 + 3072, 512 + 3072 + 1).toString(), 'b');
  assert.equal(tar.length, 512 + 3072 + 512 + 512 + 1024);
});
