/**
 * The one way to read a small file we parse (index.json, oci-layout, a
 * manifest or config in a layout, a part manifest, a have file, credentials,
 * a preset, an exclude file), and to open a file whose bytes we stream (a
 * layout's blob): it must be a regular file, judged on the open descriptor
 * (a stat of the path can be raced, and says size 0 for /dev/zero), and a
 * read stops at the cap by bytes actually read, so a device or a file that
 * grows cannot fill memory. A FIFO is opened non-blocking so that opening it
 * cannot hang before it is refused.
 */
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fromFsError, InvalidInputError } from '../errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The one table of how many bytes a document we parse may have, by kind.
 * Every bounded read names its kind here, whatever the source (a file, an
 * HTTP body, a tar member or blob whose size a header or descriptor
 * declares), so a manifest has one cap whether it comes from an archive, a
 * layout, a registry or the store. Each cap is far above any real document
 * of its kind: a larger one is not one, and is refused before it fills memory.
 */
export const documentCaps = {
  /**
   * An image manifest, index or config, or an artifact manifest (a
   * signature's, an SBOM's). The distribution registry refuses a manifest over
   * 4 MiB and containers/image (skopeo, podman) reads neither a manifest nor a
   * config over 4 MiB, so no larger one travels between registries and
   * engines. Also how large an unknown blob may be to be opened as JSON.
   */
  image: 4 * MiB,
  /** A layout's index.json (the store's, or one save writes) and an archive's manifest.json and repositories: an entry per tag, so tens of thousands of images fit. */
  layoutIndex: 64 * MiB,
  /** oci-layout: one field. */
  ociLayout: 64 * KiB,
  /** 10,000 parts make about 1.5 MB. */
  partManifest: 16 * MiB,
  /** A million blobs make about 75 MB. */
  haveFile: 128 * MiB,
  /** A Sigstore bundle or an SSH signature: a certificate chain at most. */
  signature: 1 * MiB,
  /** A PEM or OpenSSH key file: a few KiB. */
  key: 64 * KiB,
  /** Configuration written by hand: credentials (auth.json), a trust policy, a pack preset. */
  settings: 1 * MiB,
  /** An exclude pattern file, which may be generated: one path per line. */
  patternFile: 16 * MiB,
  /** An SBOM (SPDX or CycloneDX) of a large distribution. */
  sbom: 256 * MiB,
  /** A registry's token response (containers/image allows 1 MiB). */
  token: 1 * MiB,
  /** A registry's error document, or its answer before it took a whole upload: only quoted in a message. */
  errorBody: 64 * KiB,
  /** A PAR2 packet other than a recovery slice (which is streamed, never held): an IFSC packet of 32,768 slices makes 640 KiB. */
  par2Packet: 1 * MiB,
  /** The total one rootfs of a pipeline hands another (cli/pipeline.ts). */
  progressTotal: 4 * KiB,
} as const;

export type DocumentCap = keyof typeof documentCaps;

/**
 * Opens path for reading if it is a regular file; anything else (a FIFO, a
 * device, a socket, a directory) is refused as bad input naming the path.
 */
export async function openRegular(path: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, openFlags);
    return { handle, size: checkRegular(await handle.stat(), path) };
  } catch (err) {
    await handle?.close();
    throw openError(err, path);
  }
}

const openFlags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function checkRegular(info: Stats, path: string): number {
  if (!info.isFile()) throw new InvalidInputError(path, `not a regular file (${fileKind(info)})`);
  return info.size;
}

function openError(err: unknown, path: string): unknown {
  return err instanceof InvalidInputError ? err : fromFsError(err, path);
}

function tooLarge(path: string, kind: DocumentCap, what: string): InvalidInputError {
  return new InvalidInputError(path, `larger than ${documentCaps[kind]} bytes: not ${what}`);
}

/**
 * The whole of a small regular file, at most its kind's cap; a larger one is
 * refused as not being what `what` says ("an image metadata document").
 * A missing file is NotFoundError (its cause keeps ENOENT).
 */
export async function readMetadata(path: string, kind: DocumentCap, what = 'an image metadata document'): Promise<Buffer> {
  const cap = documentCaps[kind];
  const { handle } = await openRegular(path);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, cap + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > cap) throw tooLarge(path, kind, what);
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    throw openError(err, path);
  } finally {
    await handle.close();
  }
}

/** readMetadata for the few synchronous callers (presets and exclude files, read while flags are parsed). */
export function readMetadataSync(path: string, kind: DocumentCap, what = 'an image metadata document'): Buffer {
  const cap = documentCaps[kind];
  let fd: number | undefined;
  try {
    fd = openSync(path, openFlags);
    checkRegular(fstatSync(fd), path);
    const buffer = Buffer.allocUnsafe(cap + 1);
    let total = 0;
    for (let n; total <= cap && (n = readSync(fd, buffer, total, cap + 1 - total, null)) > 0; ) total += n;
    if (total > cap) throw tooLarge(path, kind, what);
    return buffer.subarray(0, total);
  } catch (err) {
    throw openError(err, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** readMetadata, or undefined when the file does not exist. */
export function readMetadataIfExists(path: string, kind: DocumentCap, what?: string): Promise<Buffer | undefined> {
  return unlessMissing(readMetadata(path, kind, what));
}

/** What a read of a file gives, or undefined when the file does not exist (isMissing); any other failure is thrown. */
export async function unlessMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/**
 * A small document from a stream (an HTTP body, a blob being read): at most
 * its kind's cap, or the `declared` bytes a descriptor promises when fewer.
 * One byte more destroys the stream and fails with code
 * ERR_RESPONSE_TOO_LARGE, for the caller to name the source.
 */
export async function readCapped(body: Readable, kind: DocumentCap, declared?: number): Promise<Buffer> {
  const cap = Math.min(documentCaps[kind], declared ?? Infinity);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      body.destroy();
      throw Object.assign(new Error(`response larger than ${cap} bytes`), { code: 'ERR_RESPONSE_TOO_LARGE' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** True for the error readMetadata and openRegular raise for a path that does not exist. */
export function isMissing(err: unknown): boolean {
  return err instanceof Error && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * A regular file's bytes as a stream, never more than limit + 1 of them (one
 * more than a descriptor promises, so a longer file is still seen to be too
 * long, not read for ever), and its size when opened.
 */
export async function openRegularStream(path: string, limit?: number): Promise<{ stream: Readable; size: number }> {
  const { handle, size } = await openRegular(path);
  return { stream: createReadStream('', { fd: handle, highWaterMark: 1 << 20, ...(limit === undefined ? {} : { end: limit }) }), size };
}

function fileKind(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  if (info.isDirectory()) return 'a directory';
  return 'not a file';
}

/** Whether path names anything (a dangling symlink too): false for ENOENT, any other error thrown naming it. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fromFsError(err, path);
  }
}
