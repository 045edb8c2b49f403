import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { HostIoError, InvalidInputError, UsageError } from '../src/errors.js';
import { createCompressor, createDecompressor, detectCompression, type Compression } from '../src/compress/index.js';
import { requireTools, runOk } from './helpers.js';

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
  for (const compression of ['gzip', 'zstd'] as const) {
    const reference = await through(input, createCompressor(compression, { threads: 1 }));
    for (const [threads, chunkSize] of [
      [1, 65536],
      [2, 1000],
      [4, 300000],
      [2, 131072],
    ]) {
      const again = await through(input, createCompressor(compression, { threads }), chunkSize);
      assert.ok(again.equals(reference), `${compression} threads ${threads} chunks ${chunkSize}`);
    }
  }
});

test('a level out of range is a usage error', () => {
  assert.throws(() => createCompressor('gzip', { level: 10 }), (err: unknown) => err instanceof UsageError && /--level 10: gzip levels are 1 to 9 \(default 6\)/.test(err.message));
  assert.throws(() => createCompressor('zstd', { level: 0 }), UsageError);
  assert.throws(() => createCompressor('gzip', { level: 2.5 }), UsageError);
});
