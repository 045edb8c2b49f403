/**
 * Compression of layers: detection by magic number, streaming decompression
 * of everything docker load accepts, and deterministic compression (layer
 * digests must not change between two imports of the same tar).
 * docs/compression.md has the measurements behind the choices.
 */
import { availableParallelism } from 'node:os';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { InvalidInputError } from '../errors.js';
import { ExternalFilter } from './external.js';
import { compressionLevel } from './levels.js';
import { createGzip, defaultGzipEncoder, libdeflateBuiltIn } from './gzip.js';
import { createZstdCompressor, zstdVersion, ZstdDecompress } from './zstd.js';
import { native } from '../native/index.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

const magics: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]], // "BZh", then the block size digit
];
const PEEK = 6;
const GUNZIP_CHUNK = 256 * 1024;

/**
 * Peeks at the first bytes (magic numbers, not file names) and returns the
 * compression and a stream that still yields every byte. Empty input → 'none'.
 */
export async function detectCompression(input: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const head = await peek(input, PEEK);
  return { compression: identify(head), stream: head.stream };
}

function identify({ bytes }: { bytes: Buffer }): Compression {
  for (const [compression, magic] of magics) {
    if (bytes.length >= magic.length && magic.every((byte, i) => bytes[i] === byte)) {
      if (compression !== 'bzip2' || (bytes[3]! >= 0x31 && bytes[3]! <= 0x39)) return compression;
    }
  }
  return 'none';
}

/** Reads at least `count` bytes (fewer at end of input) and gives them back to the stream. */
async function peek(input: Readable, count: number): Promise<{ bytes: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < count) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      length += chunk.length;
      continue;
    }
    if (input.readableEnded) break;
    // An error already emitted will not be emitted again for the listeners below.
    if (input.errored) throw input.errored;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        input.off('readable', done).off('end', done).off('error', done);
        if (err) reject(err);
        else resolve();
      };
      input.on('readable', done).on('end', done).on('error', done);
    });
  }
  const bytes = Buffer.concat(chunks);
  if (!input.readableEnded) {
    if (bytes.length > 0) input.unshift(bytes);
    return { bytes, stream: input };
  }
  // An ended stream takes nothing back: hand out what was read in a new one.
  const rest = new PassThrough();
  rest.end(bytes);
  return { bytes, stream: rest };
}

/** A streaming decompressor; corrupt or truncated input errors as InvalidInputError(where, "corrupt gzip stream: ..."). */
export function createDecompressor(compression: Compression, where: string): Duplex {
  switch (compression) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      // Gunzip reads concatenated members (as pigz and `cat a.gz b.gz` make) by default.
      // Its 16 KiB default output chunk costs a thread-pool round trip each: 256 KiB inflates twice as fast.
      return relabelErrors(zlib.createGunzip({ chunkSize: GUNZIP_CHUNK }), where, 'gzip');
    case 'zstd':
      return new ZstdDecompress(where);
    case 'xz':
      return new ExternalFilter('xz', ['-dc'], 'xz', where, 'apt-get install xz-utils');
    case 'bzip2':
      return new ExternalFilter('bzip2', ['-dc'], 'bzip2', where, 'apt-get install bzip2');
  }
}

/**
 * A deterministic compressor: the same input and options give the same bytes
 * whatever the thread count. Levels and their defaults are levels.ts's table;
 * threads default to the number of CPUs. A level out of range is a UsageError.
 */
export function createCompressor(compression: 'none' | 'gzip' | 'zstd', options: { level?: number; threads?: number } = {}): Duplex {
  const threads = options.threads ?? availableParallelism();
  switch (compression) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return createGzip({ level: compressionLevel('gzip', options.level)!, threads });
    case 'zstd':
      return createZstdCompressor(compressionLevel('zstd', options.level)!, threads);
  }
}

export interface EncoderInfo {
  /** What writes gzip layers, with its version: the bytes (so the digests) depend on it. */
  gzip: string;
  zstd: string;
}

/** The encoders this build uses, for `rootfs version`. */
export function encoderInfo(): EncoderInfo {
  const gzip =
    defaultGzipEncoder() === 'libdeflate'
      ? `libdeflate ${native.libraries.libdeflate} (one member per 1 MiB block)`
      : `zlib ${process.versions.zlib} (Node's, ${libdeflateBuiltIn() ? 'ROOTFS_GZIP_ENCODER=zlib' : 'built without libdeflate'})`;
  return { gzip, zstd: `libzstd ${zstdVersion()} (zstd-napi)` };
}

/** Makes a zlib stream fail with an InvalidInputError naming the input, instead of zlib's bare "unexpected end of file". */
function relabelErrors<T extends Duplex>(stream: T, where: string, label: string): T {
  const destroy = stream._destroy.bind(stream);
  stream._destroy = (error, callback) =>
    destroy(error && !(error instanceof InvalidInputError) ? new InvalidInputError(where, `corrupt ${label} stream: ${error.message}`, { cause: error }) : error, callback);
  return stream;
}
