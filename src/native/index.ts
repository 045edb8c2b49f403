import { createRequire } from 'node:module';

/** The syscalls of native/rootfs_native.c; see there for why each exists. */
export interface NativeBinding {
  llistxattr(path: Buffer): Buffer[];
  /** null when the attribute vanished between list and get. */
  lgetxattr(path: Buffer, name: Buffer): Buffer | null;
  lsetxattr(path: Buffer, name: Buffer, value: Buffer): void;
  /** false when the lock is held elsewhere and wait is false. */
  flock(fd: number, exclusive: boolean, wait: boolean): boolean;
  mknod(path: Buffer, mode: number, major: number, minor: number): void;
  /** -1 when no data follows offset. */
  seekData(fd: number, offset: number): number;
  /** -1 when offset is past the end. */
  seekHole(fd: number, offset: number): number;
  /**
   * A directory's entries sorted by raw bytes, each lstat'ed and its xattrs
   * read, in one call: [names, nameEnds, stats (11 fields an entry, the order
   * of STAT_FIELDS in src/pack/walk.ts), errors (lstat errno, xattr errno an
   * entry), xattr records (u32 name length, name, u32 value length, value), xattrEnds].
   */
  readDirectory(path: Buffer, selinux: boolean): [Buffer, Uint32Array, BigInt64Array, Int32Array, Buffer, Uint32Array];
  /** One gzip member of `input` (libdeflate level 0–12), compressed on the thread pool; absent when built without libdeflate. */
  gzipMember?(input: Buffer, level: number): Promise<Buffer>;
  /**
   * PAR2's Reed-Solomon step on the thread pool: out[r] ^= Σ_c coefficients[r·cols + c] · inputs[c]
   * over GF(2^16) (polynomial 0x1100B, little-endian words), where out holds
   * rows and inputs cols slices of sliceSize bytes (a multiple of 4).
   */
  gfMultiplyAdd(out: Buffer, inputs: Buffer, coefficients: Uint16Array, sliceSize: number): Promise<void>;
  /** The compression libraries built in, name → version (native/probe.cjs decides at build time). */
  libraries: Record<string, string>;
}

const require = createRequire(import.meta.url);

// dist/src/native/index.js → the package root is three levels up.
export const native: NativeBinding = require('../../../build/Release/rootfs_native.node');
