// tier: unit
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { HostIoError, InvalidInputError, UsageError } from '../src/errors.js';
import { createCompressor, createDecompressor, detectCompression, type Compression } from '../src/compress/index.js';
import { createGzip, defaultGzipEncoder, type GzipEncoder } from '../src/compress/gzip.js';
import { native } from '../src/native/index.js';
import { libdeflateAbsent, libdeflateBuilt, requireLibdeflate, requireTools, runOk, sayLoudly } from './helpers.js';

/** 6 MB that compresses like a rootfs: text runs, a counter, and incompressible stretches. */
function sample(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length < 600; i++) {
    parts.push(Buffer.from(`line ${i}: the quick brown fox jumps over the lazy dog ${i * 7919}\n`.repeat(40)));
    if (i % 5 === 0) parts.push(randomBytes(8192));
  }
  return Buffer.concat(parts);
}
const input = sample();

function chunks(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

async function collect(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const part of stream) out.push(part as Buffer);
  return Buffer.concat(out);
}

/** The data through a (de)compressor, fed in chunks of the given size. */
async function through(data: Buffer, stream: Duplex, chunkSize = 65536): Promise<Buffer> {
  const [, out] = await Promise.all([pipeline(chunks(data, chunkSize), stream), collect(stream)]);
  return out;
}

const tools: Record<Exclude<Compression, 'none'>, { compress: [string, string[]]; decompress: [string, string[]] }> = {
  gzip: { compress: ['gzip', ['-6', '-c']], decompress: ['gzip', ['-dc']] },
  zstd: { compress: ['zstd', ['-q', '-3', '-c']], decompress: ['zstd', ['-q', '-dc']] },
  xz: { compress: ['xz', ['-1', '-c']], decompress: ['xz', ['-dc']] },
  bzip2: { compress: ['bzip2', ['-1', '-c']], decompress: ['bzip2', ['-dc']] },
};

test('detection by magic number, every byte still there', async (t) => {
  if (!requireTools(t, 'gzip', 'zstd', 'xz', 'bzip2')) return;
  for (const [compression, { compress }] of Object.entries(tools)) {
    const packed = (await runOk(compress[0], compress[1], { input: input.subarray(0, 100000) })).stdout;
    const detected = await detectCompression(chunks(packed, 3));
    assert.equal(detected.compression, compression);
    assert.deepEqual(await collect(detected.stream), packed);
  }
  for (const plain of [input.subarray(0, 1000), Buffer.from('BZh'), Buffer.from('BZhx tar-ish'), Buffer.from([0x1f]), Buffer.alloc(0)]) {
    const detected = await detectCompression(chunks(plain, 2));
    assert.equal(detected.compression, 'none', plain.toString());
    assert.deepEqual(await collect(detected.stream), plain);
  }
});

test('the peers read what we write: gzip, pigz and zstd', async (t) => {
  if (!requireTools(t, 'gzip', 'pigz', 'zstd')) return;
  const gz = await through(input, createCompressor('gzip'));
  assert.deepEqual((await runOk('gzip', ['-dc'], { input: gz })).stdout, input);
  assert.deepEqual((await runOk('pigz', ['-dc'], { input: gz })).stdout, input);
  await runOk('gzip', ['-t'], { input: gz });
  await runOk('pigz', ['-t'], { input: gz });
  // RFC 1952 header: deflate, no flags (no name), mtime 0, OS Unix.
  assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  assert.ok(gz.length < input.length / 2, 'it compresses');
  const zst = await through(input, createCompressor('zstd'));
  assert.deepEqual((await runOk('zstd', ['-q', '-dc'], { input: zst })).stdout, input);
  assert.deepEqual(await through(input, createCompressor('none')), input);
});

test('gzip levels 1 and 9 and an input smaller than one block are valid gzip', async (t) => {
  if (!requireTools(t, 'gzip')) return;
  for (const level of [1, 9]) {
    const gz = await through(input, createCompressor('gzip', { level }));
    assert.deepEqual((await runOk('gzip', ['-dc'], { input: gz })).stdout, input);
  }
  for (const small of [Buffer.alloc(0), Buffer.from('tiny')]) {
    const gz = await through(small, createCompressor('gzip'));
    assert.deepEqual((await runOk('gzip', ['-dc'], { input: gz })).stdout, small);
  }
});

test('we read what the peers write: gzip, pigz, zstd, xz, bzip2, and concatenated gzip members', async (t) => {
  if (!requireTools(t, 'gzip', 'pigz', 'zstd', 'xz', 'bzip2')) return;
  for (const [compression, { compress }] of Object.entries(tools) as [Compression, (typeof tools)['gzip']][]) {
    const packed = (await runOk(compress[0], compress[1], { input })).stdout;
    assert.deepEqual(await through(packed, createDecompressor(compression, 'layer')), input, compression);
  }
  const pigz = (await runOk('pigz', ['-p2', '-6', '-c'], { input })).stdout;
  assert.deepEqual(await through(pigz, createDecompressor('gzip', 'layer')), input);
  const half = input.length >> 1;
  const first = (await runOk('gzip', ['-c'], { input: input.subarray(0, half) })).stdout;
  const second = (await runOk('gzip', ['-c'], { input: input.subarray(half) })).stdout;
  assert.deepEqual(await through(Buffer.concat([first, second]), createDecompressor('gzip', 'layer')), input);
});

test('truncated and corrupt compressed streams are errors naming the input', async (t) => {
  if (!requireTools(t, 'gzip', 'zstd', 'xz', 'bzip2')) return;
  for (const [compression, { compress }] of Object.entries(tools) as [Compression, (typeof tools)['gzip']][]) {
    const packed = (await runOk(compress[0], compress[1], { input })).stdout;
    const truncated = packed.subarray(0, packed.length - 100);
    const corrupt = Buffer.from(packed);
    for (let i = 200; i < 400; i++) corrupt[i] ^= 0x55;
    for (const [what, bad] of [
      ['truncated', truncated],
      ['corrupt', corrupt],
    ] as const) {
      await assert.rejects(
        through(bad, createDecompressor(compression, 'base.tar.x')),
        (err: unknown) => err instanceof InvalidInputError && err.message.startsWith(`base.tar.x: corrupt ${compression} stream: `),
        `${what} ${compression}`,
      );
    }
  }
});

test('a missing xz or bzip2 program is a clear host error', async () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(through(Buffer.from('x'), createDecompressor('xz', 'in.tar.xz')), (err: unknown) => {
      return err instanceof HostIoError && /in\.tar\.xz: cannot decompress xz input: the xz program is not installed/.test(err.message);
    });
  } finally {
    process.env.PATH = path;
  }
});

test('compression is deterministic: same bytes across runs, thread counts and input chunking', async () => {
  const compressors: [string, (threads: number) => Duplex][] = [
    ...gzipEncoders().map((encoder): [string, (threads: number) => Duplex] => [`gzip ${encoder}`, (threads) => createGzip({ encoder, threads })]),
    ['zstd', (threads) => createCompressor('zstd', { threads })],
  ];
  for (const [name, make] of compressors) {
    const reference = await through(input, make(1));
    for (const [threads, chunkSize] of [
      [1, 65536],
      [2, 1000],
      [4, 300000],
      [2, 131072],
      [2, 1024 * 1024 + 7],
    ]) {
      const again = await through(input, make(threads!), chunkSize);
      assert.ok(again.equals(reference), `${name} threads ${threads} chunks ${chunkSize}`);
    }
  }
});

/** Both gzip encoders where the addon has libdeflate; without it, only zlib, said loudly. */
function gzipEncoders(): GzipEncoder[] {
  if (libdeflateBuilt()) return ['libdeflate', 'zlib'];
  sayLoudly(`SKIPPED for libdeflate: ${libdeflateAbsent}`);
  return ['zlib'];
}

test('both gzip encoders: gzip -t, pigz -t, and the same bytes back at every level, for tiny, empty and multi-block inputs', async (t) => {
  if (!requireTools(t, 'gzip', 'pigz')) return;
  // 6 MB: several libdeflate members, many zlib blocks; 2.5 MiB + 1: a short last block.
  const inputs = [input, input.subarray(0, 2.5 * 1024 * 1024 + 1), Buffer.from('tiny'), Buffer.alloc(0)];
  for (const encoder of gzipEncoders()) {
    for (const level of [1, 6, 9]) {
      for (const data of inputs) {
        const gz = await through(data, createGzip({ encoder, level }));
        await runOk('gzip', ['-t'], { input: gz });
        await runOk('pigz', ['-t'], { input: gz });
        assert.deepEqual((await runOk('gzip', ['-dc'], { input: gz })).stdout, data, `${encoder} level ${level}, ${data.length} bytes`);
        assert.deepEqual(await through(gz, createDecompressor('gzip', 'layer')), data);
      }
    }
  }
});

test('libdeflate writes one gzip member per MiB, no larger in all than zlib at the same level', async (t) => {
  if (!requireLibdeflate(t)) return;
  const members = await through(input, createGzip({ encoder: 'libdeflate' }));
  const single = await through(input, createGzip({ encoder: 'zlib' }));
  assert.notDeepEqual(members, single);
  // The stream is exactly the members of its 1 MiB blocks, each a gzip file of its own.
  const blocks: Buffer[] = [];
  for (let at = 0; at < input.length; at += 1024 * 1024) blocks.push(input.subarray(at, at + 1024 * 1024));
  const each = await Promise.all(blocks.map((block) => native.gzipMember!(block, 6)));
  assert.ok(Buffer.concat(each).equals(members));
  assert.deepEqual(zlib.gunzipSync(each[1]!), blocks[1]);
  assert.ok(members.length <= single.length, `libdeflate ${members.length} bytes, zlib ${single.length}`);
});

test('ROOTFS_GZIP_ENCODER=zlib forces the zlib encoder', () => {
  assert.equal(defaultGzipEncoder({ ROOTFS_GZIP_ENCODER: 'zlib' }), 'zlib');
  assert.equal(defaultGzipEncoder({}), native.gzipMember ? 'libdeflate' : 'zlib');
});

test('a level out of range is a usage error', () => {
  assert.throws(() => createCompressor('gzip', { level: 10 }), (err: unknown) => err instanceof UsageError && /--level 10: gzip levels are 1 to 9 \(default 6\)/.test(err.message));
  assert.throws(() => createCompressor('zstd', { level: 0 }), UsageError);
  assert.throws(() => createCompressor('gzip', { level: 2.5 }), UsageError);
});
