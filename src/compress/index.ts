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
import { createGzip, defaultGzipEncoder, libdeflateBuiltIn, type GzipEncoder } from './gzip.js';
import { createZstdCompressor, zstdVersion, ZstdDecompress } from './zstd.js';
import { native } from '../native/index.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** What --compression asks of an image's layers on a copy: keep them as they are, or this compression. */
export const compressionChoices = ['keep', 'gzip', 'zstd', 'none'] as const;
export type CompressionChoice = (typeof compressionChoices)[number];

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
  return createRecipeCompressor(compressorRecipe(compression, options.level), options.threads)!;
}

/**
 * What a layer's compressed bytes are a function of, besides its tar: the
 * encoder (with its version and the block size it cuts, as one name) and the
 * level. Thread counts are not in it: no encoder here depends on them.
 * Written on every layer rootfs makes (layerRecipeAnnotations) so that a site
 * holding the tar can rebuild the exact blob, and digests with it.
 */
export interface Recipe {
  compression: 'none' | 'gzip' | 'zstd';
  /** An encoderName(): "gzip/libdeflate-1.19/members-1MiB", "none". */
  encoder: string;
  /** Absent for 'none'. */
  level?: number;
}

/** The names of the encoders this build runs; the architecture is in zlib's because Chromium's zlib, which Node bundles, picks its hashing by CPU. */
function encoderName(compression: Recipe['compression'], gzip: GzipEncoder = defaultGzipEncoder()): string {
  if (compression === 'none') return 'none';
  if (compression === 'zstd') return `zstd/libzstd-${zstdVersion()}/mt`;
  return gzip === 'libdeflate' ? `gzip/libdeflate-${native.libraries.libdeflate}/members-1MiB` : `gzip/zlib-${process.versions.zlib}-${process.arch}/chained-128KiB`;
}

/** Every encoder this build can run, sorted: what `rootfs have` tells a sender the site can rebuild a layer with. */
export function reproducibleEncoders(): string[] {
  const gzip: GzipEncoder[] = libdeflateBuiltIn() ? ['libdeflate', 'zlib'] : ['zlib'];
  return [encoderName('none'), ...gzip.map((encoder) => encoderName('gzip', encoder)), encoderName('zstd')].sort();
}

/** The recipe createCompressor follows for this compression and level (checked against levels.ts). */
export function compressorRecipe(compression: Recipe['compression'], level?: number): Recipe {
  if (compression === 'none') return { compression, encoder: encoderName(compression) };
  return { compression, encoder: encoderName(compression), level: compressionLevel(compression, level)! };
}

/** A compressor that follows the recipe, or undefined when this build has not its encoder. */
export function createRecipeCompressor(recipe: Recipe, threads = availableParallelism()): Duplex | undefined {
  switch (recipe.compression) {
    case 'none':
      return recipe.encoder === encoderName('none') ? new PassThrough() : undefined;
    case 'gzip': {
      const encoder = (['libdeflate', 'zlib'] as const).find((candidate) => (candidate === 'zlib' || libdeflateBuiltIn()) && encoderName('gzip', candidate) === recipe.encoder);
      return encoder ? createGzip({ level: compressionLevel('gzip', recipe.level)!, threads, encoder }) : undefined;
    }
    case 'zstd':
      return recipe.encoder === encoderName('zstd') ? createZstdCompressor(compressionLevel('zstd', recipe.level)!, threads) : undefined;
  }
}

/** The layer descriptor annotations that carry a recipe. */
export const recipeAnnotation = { encoder: 'io.rootfs.layer.encoder', level: 'io.rootfs.layer.level' } as const;

export function layerRecipeAnnotations(recipe: Recipe): Record<string, string> {
  return recipe.level === undefined ? { [recipeAnnotation.encoder]: recipe.encoder } : { [recipeAnnotation.encoder]: recipe.encoder, [recipeAnnotation.level]: String(recipe.level) };
}

/** The recipe a layer descriptor records, if it records one (a layer rootfs wrote); its compression is what its bytes are. */
export function layerRecipe(annotations: Record<string, string> | undefined, compression: Compression): Recipe | undefined {
  const encoder = annotations?.[recipeAnnotation.encoder];
  if (encoder === undefined) return compression === 'none' ? compressorRecipe('none') : undefined;
  if (compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') return undefined;
  if (compression === 'none') return encoder === 'none' ? { compression, encoder } : undefined;
  const level = Number(annotations?.[recipeAnnotation.level]);
  return Number.isInteger(level) ? { compression, encoder, level } : undefined;
}

/** A descriptor without the recipe annotations (a layer re-encoded by another recipe, or a foreign one). */
export function withoutRecipe<T extends { annotations?: Record<string, string> }>(descriptor: T): T {
  if (!descriptor.annotations || !(recipeAnnotation.encoder in descriptor.annotations)) return descriptor;
  const { [recipeAnnotation.encoder]: _encoder, [recipeAnnotation.level]: _level, ...rest } = descriptor.annotations;
  const out = { ...descriptor };
  if (Object.keys(rest).length > 0) out.annotations = rest;
  else delete out.annotations;
  return out;
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
