/**
 * Reading a part set back: as one verified stream of the original bytes
 * (join, `load -i DIR`), or part by part to report every bad one (verify).
 * Each part's last chunk is held back until the part's size and sha256 have
 * been checked, and the last part's until the whole file's has, so a
 * consumer never receives all of a bad part, and the stream fails instead
 * of ending cleanly.
 */
import { createHash, type Hash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Input } from '../io/input.js';
import { isMissing, openRegularStream } from '../io/metadata.js';
import { Readable } from 'node:stream';
import { InvalidInputError, RootfsError, fromFsError } from '../errors.js';
import { findPartSet, type ManifestGate, type PartEntry, type PartSet } from './manifest.js';
import { count } from '../text.js';

export type PartProblem = 'missing' | 'size' | 'sha256';

/** A part that is missing, or whose size or sha256 is not what the manifest says. */
export class PartError extends InvalidInputError {
  constructor(readonly part: string, readonly problem: PartProblem, detail: string, options?: { cause?: unknown }) {
    super(`part ${part}`, detail, options);
  }
}

const readChunk = 1 << 20;

/** The joined bytes of the set at path (a directory or its manifest; through gate, given): fails at once if a part is missing or of the wrong size, and mid-stream, before the bad part's end, on a sha256 mismatch. */
export async function openPartSet(path: string, gate?: ManifestGate): Promise<Input> {
  const set = await findPartSet(path, gate);
  for (const part of set.manifest.parts) await checkPresent(set.dir, part);
  return { stream: Readable.from(joinedChunks(set), { objectMode: false, highWaterMark: readChunk }), size: set.manifest.size };
}

async function* joinedChunks(set: PartSet): AsyncGenerator<Buffer> {
  const whole = createHash('sha256');
  const checkWhole = (): void => {
    const actual = whole.digest('hex');
    if (actual !== set.manifest.sha256) {
      throw new InvalidInputError(set.manifestPath, `every part matches but the whole file's sha256 does not (expected ${set.manifest.sha256}, got ${actual}): the manifest is inconsistent`);
    }
  };
  const { parts } = set.manifest;
  for (const [i, part] of parts.entries()) yield* verifiedPart(set.dir, part, whole, i === parts.length - 1 ? checkWhole : undefined);
  if (parts.length === 0) checkWhole();
}

async function checkPresent(dir: string, part: PartEntry): Promise<void> {
  let size: number;
  try {
    size = (await stat(join(dir, part.name))).size;
  } catch (err) {
    throw partReadError(err, dir, part);
  }
  if (size !== part.size) throw sizeError(part, size);
}

/**
 * One part's bytes, hashed into whole too. The last chunk is yielded only
 * after the part checks out (and beforeLast, if given, has not thrown).
 */
async function* verifiedPart(dir: string, part: PartEntry, whole: Hash, beforeLast?: () => void): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  let held: Buffer | undefined;
  try {
    // A part is a regular file: a FIFO or device planted in the set is refused, not waited on.
    const { stream } = await openRegularStream(join(dir, part.name), part.size).catch((err: unknown) => {
      throw isMissing(err) ? missingPart(part, dir, err) : err;
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > part.size) throw sizeError(part, size, 'at least ');
      hash.update(chunk);
      whole.update(chunk);
      if (held) yield held;
      held = chunk;
    }
  } catch (err) {
    throw err instanceof RootfsError ? err : partReadError(err, dir, part);
  }
  if (size !== part.size) throw sizeError(part, size);
  const actual = hash.digest('hex');
  if (actual !== part.sha256) throw new PartError(part.name, 'sha256', `sha256 mismatch: expected ${part.sha256}, got ${actual} (damaged: copy this part again)`);
  beforeLast?.();
  if (held) yield held;
}

function sizeError(part: PartEntry, actual: number, qualifier = ''): PartError {
  return new PartError(part.name, 'size', `size ${qualifier}${actual}, expected ${part.size} (truncated or damaged: copy this part again)`);
}

function partReadError(err: unknown, dir: string, part: PartEntry): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return missingPart(part, dir, err);
  return fromFsError(err, join(dir, part.name));
}

function missingPart(part: PartEntry, dir: string, cause: unknown): PartError {
  return new PartError(part.name, 'missing', `missing (not in ${dir})`, { cause });
}

export interface PartStatus {
  name: string;
  size: number;
  status: 'ok' | PartProblem;
  /** What is wrong, for a bad part. */
  detail?: string;
}

export interface VerifyResult {
  manifestPath: string;
  name: string;
  size: number;
  parts: PartStatus[];
  /** The whole file's sha256 across all parts; unchecked when a part is bad (it cannot match then). */
  whole: 'ok' | 'mismatch' | 'unchecked';
  ok: boolean;
}

/** What a check of a set found wrong, as the error to fail with (naming every bad part), or undefined when the set is whole. */
export function partSetProblem(result: VerifyResult): InvalidInputError | undefined {
  const bad = result.parts.filter((part) => part.status !== 'ok');
  if (bad.length > 0) {
    const named = bad.map((part) => `${part.name} (${part.status === 'sha256' ? 'sha256 mismatch' : part.status === 'size' ? 'wrong size' : 'missing'})`);
    return new InvalidInputError(result.manifestPath, `${bad.length} of ${count(result.parts.length, 'part')} bad: ${named.join(', ')}`);
  }
  if (result.whole !== 'ok') return new InvalidInputError(result.manifestPath, `every part matches but the whole file's sha256 does not: the manifest is inconsistent`);
  return undefined;
}

/** Checks every part (all of them, not stopping at the first bad one) and the whole file's sha256, reading each part once. */
export async function verifyPartSet(path: string, onProgress?: (bytesDone: number, total: number) => void, gate?: ManifestGate): Promise<VerifyResult> {
  const set = await findPartSet(path, gate);
  const whole = createHash('sha256');
  const parts: PartStatus[] = [];
  let done = 0;
  for (const part of set.manifest.parts) {
    try {
      for await (const chunk of verifiedPart(set.dir, part, whole)) {
        done += chunk.length;
        onProgress?.(done, set.manifest.size);
      }
      parts.push({ name: part.name, size: part.size, status: 'ok' });
    } catch (err) {
      if (!(err instanceof PartError)) throw err;
      parts.push({ name: part.name, size: part.size, status: err.problem, detail: err.message });
    }
  }
  const allParts = parts.every((part) => part.status === 'ok');
  const wholeStatus = !allParts ? 'unchecked' : whole.digest('hex') === set.manifest.sha256 ? 'ok' : 'mismatch';
  return { manifestPath: set.manifestPath, name: set.manifest.name, size: set.manifest.size, parts, whole: wholeStatus, ok: wholeStatus === 'ok' };
}
