// tier: unit
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readFileSync, readlinkSync, writeFileSync, writeSync, mkdirSync, symlinkSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test, type TestContext } from 'node:test';
import { InvalidInputError } from '../src/errors.js';
import { BLOCK, encodeHeader, END_OF_ARCHIVE, padding, TypeFlag, type TarEntry } from '../src/tar/header.js';
import { readTar, TarValidator, type TarMember } from '../src/tar/reader.js';
import { TarWriter } from '../src/tar/writer.js';
import { makeTempDir, requireTools, runOk } from './helpers.js';

interface Read {
  entry: TarEntry;
  offset: number;
  data: Buffer;
}

/** Feeds the archive in small uneven chunks, so headers and bodies straddle chunk boundaries. */
function chunked(data: Buffer, size = 777): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

async function readAll(data: Buffer, chunkSize?: number): Promise<Read[]> {
  const out: Read[] = [];
  for await (const { entry, offset, body } of readTar(chunked(data, chunkSize), 'test.tar')) {
    const parts: Buffer[] = [];
    for await (const part of body) parts.push(part as Buffer);
    out.push({ entry, offset, data: Buffer.concat(parts) });
  }
  return out;
}

async function validate(data: Buffer): Promise<{ entries: TarEntry[]; offsets: number[]; output: Buffer }> {
  const entries: TarEntry[] = [];
  const offsets: number[] = [];
  const parts: Buffer[] = [];
  await pipeline(
    chunked(data),
    new TarValidator('test.tar', (entry, offset) => {
      entries.push(entry);
      offsets.push(offset);
    }),
    async function (source: AsyncIterable<Buffer>) {
      for await (const part of source) parts.push(part);
    },
  );
  return { entries, offsets, output: Buffer.concat(parts) };
}

/** A tree with long names, a long link target, a symlink, a hardlink, an empty file and a 3 MB file. */
function makeTree(t: TestContext): string {
  const root = join(makeTempDir(t), 'src');
  const deep = join(root, 'd'.repeat(60), 'e'.repeat(60));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'f'.repeat(120)), 'long name\n');
  writeFileSync(join(root, 'empty'), '');
  const big = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i * 2654435761 >>> 0, i);
  writeFileSync(join(root, 'big'), big);
  symlinkSync(join('d'.repeat(60), 'e'.repeat(60), 'f'.repeat(120)), join(root, 'longlink'));
  symlinkSync('empty', join(root, 'short'));
  linkSync(join(root, 'big'), join(root, 'hard'));
  return root;
}

/** Every member against the file it came from and GNU tar's own listing of the archive. */
async function checkAgainstTree(archive: string, root: string): Promise<Read[]> {
  const members = await readAll(readFileSync(archive));
  const listed = (await runOk('tar', ['-tf', archive])).stdout.toString().split('\n').filter(Boolean);
  assert.deepEqual(
    members.map((m) => m.entry.path.toString()),
    listed,
  );
  for (const { entry, data } of members) {
    const path = join(root, entry.path.toString());
    const stat = lstatSync(path);
    assert.equal(entry.mode, stat.mode & 0o7777, entry.path.toString());
    assert.equal(entry.uid, stat.uid);
    assert.equal(Math.floor(entry.mtime), Math.floor(stat.mtimeMs / 1000));
    if (entry.type === 'file') assert.deepEqual(data, readFileSync(path), entry.path.toString());
    else assert.equal(data.length, 0);
    if (entry.type === 'symlink') assert.equal(entry.linkpath!.toString(), readlinkSync(path));
    if (entry.type === 'directory') assert.ok(stat.isDirectory());
  }
  assert.ok(members.some((m) => m.entry.type === 'hardlink'));
  return members;
}

test('GNU tar, gnu format: long names and link targets, links, bodies', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const root = makeTree(t);
  const archive = join(root, '..', 'gnu.tar');
  await runOk('tar', ['--format=gnu', '-cf', archive, '-C', root, '.']);
  await checkAgainstTree(archive, root);
});

test('GNU tar, posix format: pax records, same entries, offsets at the first header block', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const root = makeTree(t);
  const archive = join(root, '..', 'pax.tar');
  await runOk('tar', ['--format=posix', '-cf', archive, '-C', root, '.']);
  const members = await checkAgainstTree(archive, root);
  const data = readFileSync(archive);
  // GNU tar's posix format gives every member a pax header (sub-second times): the offset is that header's.
  for (const { offset } of members) assert.equal(data[offset + 156], TypeFlag.PaxHeader);
  // The validator sees the same entries at the same offsets and passes every byte, the 10 KiB record padding included.
  const { entries, offsets, output } = await validate(data);
  assert.deepEqual(entries, members.map((m) => m.entry));
  assert.deepEqual(offsets, members.map((m) => m.offset));
  assert.equal(createHash('sha256').update(output).digest('hex'), createHash('sha256').update(data).digest('hex'));
});

test('sparse files (old GNU "S" with extension blocks, pax GNU.sparse 1.0) keep the stream in sync', async (t) => {
  if (!requireTools(t, 'tar')) return;
  const root = join(makeTempDir(t), 'src');
  mkdirSync(root);
  const fd = openSync(join(root, 'holes'), 'w');
  for (let i = 0; i < 30; i++) writeSync(fd, Buffer.alloc(100, 0x41 + i), 0, 100, i * 65536);
  closeSync(fd);
  writeFileSync(join(root, 'z-after'), 'after the sparse member\n');
  for (const format of ['gnu', 'posix']) {
    const archive = join(root, '..', `${format}.tar`);
    await runOk('tar', [`--format=${format}`, '--sparse', '-cf', archive, '-C', root, 'holes', 'z-after']);
    const members = await readAll(readFileSync(archive));
    assert.equal(members.length, 2, format);
    const [sparse, after] = members as [Read, Read];
    assert.equal(sparse.entry.type, 'file');
    assert.equal(sparse.entry.pax?.get('GNU.sparse.realsize')?.toString(), String(29 * 65536 + 100), format);
    assert.equal(sparse.data.length, sparse.entry.size);
    if (format === 'gnu') {
      assert.equal(sparse.entry.path.toString(), 'holes');
      // Segments are whole filesystem blocks: offsets are what was written, sizes add up to the stored size.
      const map = sparse.entry.pax!.get('GNU.sparse.map')!.toString().split(',').map(Number);
      const segments = Array.from({ length: map.length / 2 }, (_, i) => [map[2 * i]!, map[2 * i + 1]!] as const);
      assert.ok(segments.length > 4, 'more segments than the header holds: extension blocks were read');
      assert.deepEqual(
        segments.filter(([, size]) => size > 0).map(([offset]) => offset),
        Array.from({ length: 30 }, (_, i) => i * 65536),
      );
      assert.equal(sparse.entry.size, segments.reduce((sum, [, size]) => sum + size, 0));
    } else {
      assert.equal(sparse.entry.pax?.get('GNU.sparse.name')?.toString(), 'holes');
    }
    assert.equal(after.entry.path.toString(), 'z-after');
    assert.equal(after.data.toString(), 'after the sparse member\n', format);
  }
});

test('binary xattrs from GNU tar (SCHILY.xattr) and bsdtar (LIBARCHIVE.xattr) come back byte-exact', async (t) => {
  if (!requireTools(t, 'tar', 'bsdtar', 'setfattr')) return;
  const root = join(makeTempDir(t), 'src');
  mkdirSync(root);
  writeFileSync(join(root, 'f'), 'x');
  await runOk('setfattr', ['-n', 'user.bin', '-v', '0xfffe00017f', join(root, 'f')]);
  await runOk('setfattr', ['-n', 'user.text', '-v', 'hello', join(root, 'f')]);
  const gnu = join(root, '..', 'gnu.tar');
  const bsd = join(root, '..', 'bsd.tar');
  await runOk('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '-cf', gnu, '-C', root, 'f']);
  await runOk('bsdtar', ['--format=pax', '--xattrs', '-cf', bsd, '-C', root, 'f']);
  for (const archive of [gnu, bsd]) {
    const [member] = await readAll(readFileSync(archive));
    assert.deepEqual(member!.entry.xattrs?.get('user.bin'), Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x7f]), archive);
    assert.deepEqual(member!.entry.xattrs?.get('user.text'), Buffer.from('hello'), archive);
    assert.equal(member!.data.toString(), 'x');
  }
});

/** Our own archives: encodeHeader, bodies, padding, end marker. */
function writeArchive(members: [TarEntry, Buffer][], ...before: Buffer[]): Buffer {
  const parts = [...before];
  for (const [entry, data] of members) parts.push(encodeHeader(entry), data, Buffer.alloc(padding(data.length)));
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

function file(path: Buffer | string, data: Buffer | string, extra: Partial<TarEntry> = {}): [TarEntry, Buffer] {
  const body = Buffer.from(data);
  return [{ path: Buffer.from(path), type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 1700000000, ...extra }, body];
}

/** A pax global header ('g') carrying the given records, built from encodeHeader's 'x' output. */
function globalHeader(records: Partial<TarEntry>): Buffer {
  const [entry] = file('g', '', records);
  const encoded = encodeHeader(entry);
  const size = parseInt(encoded.toString('latin1', 124, 135), 8);
  const header = Buffer.from(encoded.subarray(0, BLOCK + size + padding(size)));
  header[156] = TypeFlag.PaxGlobal;
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += header[i]!;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return header;
}

test('archives from encodeHeader: big ids, non-UTF-8 names, fractional mtimes, global pax records', async () => {
  const odd = Buffer.from([0x61, 0xff, 0xfe, 0x2f, 0x62]);
  const archive = writeArchive(
    [
      file('small', 'hi', { uid: 4294967294, gid: 3000000 }),
      file(odd, 'odd'),
      file('frac', '', { mtime: 1700000000.25 }),
      [{ path: Buffer.from('dev'), type: 'chardev', mode: 0o600, uid: 0, gid: 0, size: 0, mtime: 0, devmajor: 4095, devminor: 1048575 }, Buffer.alloc(0)],
    ],
    globalHeader({ uname: 'everyone-'.repeat(5) }),
  );
  const members = await readAll(archive, 100);
  assert.deepEqual(
    members.map((m) => m.entry.path),
    [Buffer.from('small'), odd, Buffer.from('frac'), Buffer.from('dev')],
  );
  assert.equal(members[0]!.entry.uid, 4294967294);
  assert.equal(members[0]!.entry.gid, 3000000);
  assert.equal(members[0]!.data.toString(), 'hi');
  assert.equal(members[1]!.data.toString(), 'odd');
  assert.equal(members[2]!.entry.mtime, 1700000000.25);
  assert.equal(members[3]!.entry.devmajor, 4095);
  assert.equal(members[3]!.entry.devminor, 1048575);
  for (const { entry } of members) assert.equal(entry.uname, 'everyone-'.repeat(5), 'the global record applies to every later member');
  assert.equal(members[0]!.offset, globalHeader({ uname: 'everyone-'.repeat(5) }).length);
});

test('bodies nobody reads are drained; a 3 MB body streams in pieces', async () => {
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  const archive = writeArchive([file('a', 'aaa'), file('big', big), file('c', 'ccc')]);
  const seen: string[] = [];
  let pieces = 0;
  for await (const { entry, body } of readTar(chunked(archive, 65536), 'test.tar')) {
    seen.push(entry.path.toString());
    if (entry.path.toString() === 'c') {
      for await (const part of body) assert.equal((part as Buffer).toString(), 'ccc');
    }
    if (entry.path.toString() === 'big') {
      const hash = createHash('sha256');
      for await (const part of body) {
        hash.update(part as Buffer);
        pieces++;
      }
      assert.equal(hash.digest('hex'), createHash('sha256').update(big).digest('hex'));
    }
  }
  assert.deepEqual(seen, ['a', 'big', 'c']);
  assert.ok(pieces > 10, 'the body came in many chunks, not one buffer');
});

test('bytes after the end-of-archive marker pass through the validator untouched', async () => {
  const archive = Buffer.concat([writeArchive([file('a', 'a')]), Buffer.from('not a tar header at all, never parsed')]);
  const { output, entries } = await validate(archive);
  assert.deepEqual(output, archive);
  assert.equal(entries.length, 1);
  assert.equal((await readAll(archive)).length, 1);
});

async function readError(data: Buffer): Promise<Error> {
  const errors: Error[] = [];
  await readAll(data).catch((err: Error) => errors.push(err));
  await validate(data).catch((err: Error) => errors.push(err));
  assert.equal(errors.length, 2, 'both readTar and TarValidator refuse it');
  assert.ok(errors[0] instanceof InvalidInputError, String(errors[0]));
  assert.equal(errors[0].message, errors[1]!.message);
  return errors[0];
}

test('truncated archives are refused wherever they end', async () => {
  const archive = writeArchive([file('a', 'x'.repeat(1000)), file('p'.repeat(150), 'y'.repeat(600))]);
  // a: header 0, body 512..1512, padding to 1536; b: pax header 1536, records 2048..2560, header 2560, body 3072..3672,
  // padding to 4096; end marker 4096..5120.
  const cases: [number, RegExp][] = [
    [100, /^test\.tar: offset 0: truncated inside a header$/],
    [700, /^test\.tar: a: truncated: the archive ends 188 bytes into this 1000-byte member$/],
    [1520, /^test\.tar: offset 1520: truncated in the padding after a member$/],
    [1536, /^test\.tar: offset 1536: truncated: no end-of-archive marker$/],
    [2100, /^test\.tar: offset 2100: truncated inside an extended header$/],
    [2560, /^test\.tar: offset 2560: truncated after an extended header, before its member$/],
    [3100, /^test\.tar: p+: truncated: the archive ends 28 bytes into this 600-byte member$/],
    [4096, /^test\.tar: offset 4096: truncated: no end-of-archive marker$/],
    [4096 + 512, /^test\.tar: offset 4608: truncated: no end-of-archive marker$/],
    [4096 + 700, /^test\.tar: offset 4608: truncated inside a header$/],
  ];
  for (const [length, message] of cases) {
    const err = await readError(archive.subarray(0, length));
    assert.match(err.message, message, `cut at ${length}`);
  }
  assert.match((await readError(Buffer.alloc(0))).message, /empty input: not a tar archive/);
});

test('a corrupt checksum names the offset of the bad header', async () => {
  const archive = writeArchive([file('a', 'x'.repeat(1000)), file('b', 'b')]);
  archive[1536 + 10] ^= 0x01;
  const err = await readError(archive);
  assert.match(err.message, /^test\.tar: offset 1536: .*checksum/);
});

test('malformed pax records and a lone zero block are refused', async () => {
  const archive = writeArchive([file('p'.repeat(150), 'x')]);
  archive.write('99', BLOCK, 'latin1'); // the first record's length
  assert.match((await readError(archive)).message, /^test\.tar: offset 0: malformed pax record/);
  const lone = Buffer.concat([Buffer.alloc(BLOCK), writeArchive([file('hidden', 'x')])]);
  assert.match((await readError(lone)).message, /^test\.tar: offset 512: a lone zero block/);
});

test('a body being read errors when the archive is cut inside it', async () => {
  const archive = writeArchive([file('big', Buffer.alloc(200000, 1))]).subarray(0, 100000);
  let bodyError: unknown;
  await assert.rejects(async () => {
    for await (const member of readTar(chunked(archive, 4096), 'test.tar') as AsyncIterable<TarMember>) {
      try {
        for await (const _ of member.body);
      } catch (err) {
        bodyError = err;
      }
    }
  }, InvalidInputError);
  assert.ok(bodyError instanceof InvalidInputError);
  assert.match(bodyError.message, /big: truncated/);
});

test('stopping early releases the input', async () => {
  const input = chunked(writeArchive([file('a', 'a'), file('b', 'b'), file('c', 'c')]), 512);
  for await (const { entry } of readTar(input, 'test.tar')) if (entry.path.toString() === 'a') break;
  assert.ok(input.destroyed);
});

test('a TarWriter stream read as it is written: entries and bodies come back as given', async () => {
  const big = Buffer.alloc(2 * 1024 * 1024 + 7, 0x5a);
  const given: [TarEntry, Buffer][] = [
    [{ path: Buffer.from('etc'), type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1700000000 }, Buffer.alloc(0)],
    file('etc/big', big, { xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2, 0xff])]]) }),
    [{ path: Buffer.from('etc/link'), type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, linkpath: Buffer.from('etc/big') }, Buffer.alloc(0)],
    file(Buffer.from([0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74]), 'latin-1 name'),
  ];
  const writer = new TarWriter();
  const writing = (async () => {
    for (const [entry, data] of given) await writer.add(entry, entry.type === 'file' ? data : undefined);
    await writer.finish();
  })();
  const got: Read[] = [];
  for await (const { entry, offset, body } of readTar(writer, 'writer')) {
    const parts: Buffer[] = [];
    for await (const part of body) parts.push(part as Buffer);
    got.push({ entry, offset, data: Buffer.concat(parts) });
  }
  await writing;
  assert.deepEqual(
    got.map((m) => [m.entry, m.data]),
    given,
  );
});
