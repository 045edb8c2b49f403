import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, InvalidInputError } from '../errors.js';
import type { Digest } from './types.js';

const digestPattern = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && digestPattern.test(value);
}

/** Validates a digest from untrusted input (a manifest, an archive, a user) before it names a file. */
export function parseDigest(value: unknown, where: string): Digest {
  if (!isDigest(value)) throw new InvalidInputError(where, `not a sha256 digest: ${JSON.stringify(value)}`);
  return value;
}

export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Bytes held in memory, held to the digest they were read under: a DigestMismatchError naming where, else the bytes. */
export function verifiedBytes(bytes: Buffer, digest: Digest, where: string): Buffer {
  const actual = sha256(bytes);
  if (actual !== digest) throw new DigestMismatchError(where, digest, actual);
  return bytes;
}

/**
 * The ChainID of a stack of layers (image-spec config.md, as containerd
 * keys its snapshots): the first diff_id, then sha256 of "CHAIN DIFFID" for
 * each layer above. It names the merged tree, wherever the layers came from.
 */
export function chainId(diffIds: readonly Digest[]): Digest {
  if (diffIds.length === 0) throw new Error('chainId: no layers');
  return diffIds.slice(1).reduce<Digest>((chain, diffId) => sha256(`${chain} ${diffId}`), diffIds[0]!);
}

/**
 * A pass-through stream that hashes and counts what flows through it, so
 * digest and size are known the moment the data has passed: no second read.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private result: Digest | undefined;
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.result = `sha256:${this.hash.digest('hex')}`;
    callback();
  }

  /** Only valid once the stream has ended. */
  get digest(): Digest {
    if (!this.result) throw new Error('DigestStream: digest read before the stream ended');
    return this.result;
  }
}

/**
 * A pass-through that fails the stream, at its end, when the bytes do not
 * match the expected digest and size: every read of a blob goes through one.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private size = 0;

  constructor(private readonly expected: Digest, private readonly expectedSize: number | undefined, private readonly where: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.expectedSize !== undefined && this.size > this.expectedSize) {
      callback(new InvalidInputError(this.where, `larger than its descriptor's size ${this.expectedSize}`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedSize !== undefined && this.size !== this.expectedSize) {
      callback(new InvalidInputError(this.where, `size ${this.size} does not match its descriptor's size ${this.expectedSize} (truncated?)`));
      return;
    }
    const actual: Digest = `sha256:${this.hash.digest('hex')}`;
    callback(actual === this.expected ? null : new DigestMismatchError(this.where, this.expected, actual));
  }
}

