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
import { findParity, repairedPart, scanPart, type PartScan } from './parity.js';
import { rebuildSlices, shortfall, type BadSlice, type Rebuilt } from '../par2/index.js';
import { count } from '../text.js';

export type PartProblem = 'missing' | 'size' | 'sha256';

/** A part that is missing, or whose size or sha256 is not what the manifest says. */
export class PartError extends InvalidInputError {
  constructor(readonly part: string, readonly problem: PartProblem, detail: string, options?: { cause?: unknown }) {
    super(`part ${part}`, detail, options);
  }
}

const readChunk = 1 << 20;

/** What a reader is told of a repair: progress while the set is checked and its bad slices rebuilt, then one line naming the parts rebuilt. */
export interface RepairEvents {
  onProgress?: (what: string, bytesDone: number, total: number) => void;
  onRepaired?: (message: string, parts: PartStatus[]) => void;
}

/**
 * The joined bytes of the set at path (a directory or its manifest; through
 * gate, given): fails at once if a part is missing or of the wrong size, and
 * mid-stream, before the bad part's end, on a sha256 mismatch. A set with
 * parity is checked slice by slice instead, and its bad or missing parts are
 * rebuilt on the fly (said through events) when the parity suffices;
 * every part's sha256 is still checked over the bytes given.
 */
export async function openPartSet(path: string, gate?: ManifestGate, events: RepairEvents = {}): Promise<Input> {
  const set = await findPartSet(path, gate);
  const par2 = await findParity(set, false);
  if (!par2) {
    for (const part of set.manifest.parts) await checkPresent(set.dir, part);
    return { stream: Readable.from(joinedChunks(set, (part) => partBytes(set.dir, part)), { objectMode: false, highWaterMark: readChunk }), size: set.manifest.size };
  }
  let rebuild: Promise<Rebuilt> | undefined;
  const repair = (): Promise<Rebuilt> => (rebuild ??= rebuildSet(set, par2.setId, events));
  // A part missing or of the wrong size is known now: the rebuild is made (or refused) before a byte is given.
  const present = await Promise.all(set.manifest.parts.map((part) => checkPresent(set.dir, part).then(() => true, () => false)));
  if (present.includes(false)) await repair();
  const chunks = async function* (): AsyncGenerator<Buffer> {
    try {
      yield* joinedChunks(set, (part) => repairedPart(set.dir, part, par2, repair));
    } finally {
      if (rebuild) await (await rebuild.catch(() => undefined))?.close();
    }
  };
  return { stream: Readable.from(chunks(), { objectMode: false, highWaterMark: readChunk }), size: set.manifest.size };
}

/** Scans every part for bad slices and rebuilds them, or fails naming the bad parts and why the parity does not suffice. */
async function rebuildSet(set: PartSet, setId: string, events: RepairEvents): Promise<Rebuilt> {
  const par2 = await findParity(set, true, setId);
  const parts: PartStatus[] = [];
  const bad: BadSlice[] = [];
  let checked = 0;
  const onBytes = (bytes: number): void => {
    checked += bytes;
    events.onProgress?.('checking every slice', checked, set.manifest.size);
  };
  for (const part of set.manifest.parts) {
    const scan = par2 ? await scanPart(set.dir, part, par2, undefined, onBytes) : undefined;
    parts.push(statusOf(set.dir, part, scan ?? { status: 'ok', bad: [] }));
    for (const index of scan?.bad ?? []) bad.push({ name: part.name, index });
  }
  const broken = parts.filter((part) => part.status !== 'ok');
  // Every part whole: a slice that did not match was checked against parity made over other bytes (a stale par2 create).
  if (broken.length === 0) return { slice: async () => undefined, close: async () => {} };
  const lacking = par2 ? shortfall(par2, bad.length) : 'the parity files are unreadable';
  if (!par2 || lacking) throw new InvalidInputError(set.manifestPath, `${badParts(parts)}; they cannot be rebuilt from the parity: ${lacking}`);
  const what = `rebuilding ${count(bad.length, 'slice')} from the parity`;
  const rebuilt = await rebuildSlices(par2, set.dir, bad, { where: set.manifestPath, onProgress: (done, total) => events.onProgress?.(what, done, total) });
  events.onRepaired?.(`${set.manifestPath}: ${badParts(parts)}; rebuilt from the parity as read (${count(bad.length, 'slice')}), nothing in ${set.dir} written: copy the set again, or run par2 repair on a copy`, broken);
  return rebuilt;
}

async function* joinedChunks(set: PartSet, bytesOf: (part: PartEntry) => AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const whole = createHash('sha256');
  const checkWhole = (): void => {
    const actual = whole.digest('hex');
    if (actual !== set.manifest.sha256) {
      throw new InvalidInputError(set.manifestPath, `every part matches but the whole file's sha256 does not (expected ${set.manifest.sha256}, got ${actual}): the manifest is inconsistent`);
    }
  };
  const { parts } = set.manifest;
  for (const [i, part] of parts.entries()) yield* verifiedPart(set.dir, part, bytesOf(part), whole, i === parts.length - 1 ? checkWhole : undefined);
  if (parts.length === 0) checkWhole();
}

/** A part's bytes as the file has them; a part is a regular file: a FIFO or device planted in the set is refused, not waited on. */
async function* partBytes(dir: string, part: PartEntry): AsyncGenerator<Buffer> {
  const { stream } = await openRegularStream(join(dir, part.name), part.size).catch((err: unknown) => {
    throw isMissing(err) ? missingPart(part, dir, err) : err;
  });
  yield* stream as AsyncIterable<Buffer>;
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
async function* verifiedPart(dir: string, part: PartEntry, bytes: AsyncIterable<Buffer>, whole: Hash, beforeLast?: () => void): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  let held: Buffer | undefined;
  try {
    for await (const chunk of bytes) {
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
  if (actual !== part.sha256) throw sha256Error(part, actual);
  beforeLast?.();
  if (held) yield held;
}

function sha256Error(part: PartEntry, actual: string): PartError {
  return new PartError(part.name, 'sha256', `sha256 mismatch: expected ${part.sha256}, got ${actual} (damaged: copy this part again)`);
}

function sizeError(part: PartEntry, actual: number, qualifier = ''): PartError {
  return new PartError(part.name, 'size', `size ${qualifier}${actual}, expected ${part.size} (truncated or damaged: copy this part again)`);
}

function partReadError(err: unknown, dir: string, part: PartEntry): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return missingPart(part, dir, err);
  return fromFsError(err, join(dir, part.name));
}

function missingPart(part: PartEntry, dir: string, cause?: unknown): PartError {
  return new PartError(part.name, 'missing', `missing (not in ${dir})`, cause === undefined ? undefined : { cause });
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
  /** For a set with parity: how many recovery slices are intact, how many slices are bad, and whether those can be rebuilt. */
  parity?: ParityStatus;
  /** The PAR2 files the manifest lists, each checked like a part: a damaged one costs the recovery slices in it. */
  parityFiles?: PartStatus[];
}

export interface ParityStatus {
  recoverySetId: string;
  sliceSize: number;
  /** Recovery slices whose packets check. */
  recoverySlices: number;
  /** Slices of the parts that are bad or missing: as many recovery slices are needed. */
  needed: number;
  repairable: boolean;
}

/** "2 of 5 parts bad: NAME (why), …". */
function badParts(parts: PartStatus[], noun = 'part'): string {
  const bad = parts.filter((part) => part.status !== 'ok');
  const named = bad.map((part) => `${part.name} (${part.status === 'sha256' ? 'sha256 mismatch' : part.status === 'size' ? 'wrong size' : 'missing'})`);
  return `${bad.length} of ${count(parts.length, noun)} bad: ${named.join(', ')}`;
}

/**
 * What a check of a set found wrong, as the error to fail with (naming every
 * bad part), or undefined when the set can be read: whole, or with bad parts
 * its parity can rebuild (partSetRepairable says so).
 */
export function partSetProblem(result: VerifyResult): InvalidInputError | undefined {
  if (result.parts.some((part) => part.status !== 'ok')) {
    if (result.parity?.repairable) return undefined;
    const parity = result.parity ? `; they cannot be rebuilt from the parity: ${result.parity.needed} slices needed, ${result.parity.recoverySlices} available` : '';
    return new InvalidInputError(result.manifestPath, `${badParts(result.parts)}${parity}`);
  }
  if (result.whole !== 'ok') return new InvalidInputError(result.manifestPath, `every part matches but the whole file's sha256 does not: the manifest is inconsistent`);
  return undefined;
}

/** For a set with bad parts that its parity can rebuild: what is bad and that it can be rebuilt, as one line; else undefined. */
export function partSetRepairable(result: VerifyResult): string | undefined {
  if (!result.parity?.repairable || result.parts.every((part) => part.status === 'ok')) return undefined;
  return `${result.manifestPath}: ${badParts(result.parts)}; they can be rebuilt from the parity (${count(result.parity.recoverySlices, 'recovery slice')}, ${result.parity.needed} needed)`;
}

/**
 * Checks every part (all of them, not stopping at the first bad one) and the
 * whole file's sha256, reading each part once; with parity, each slice too,
 * and the recovery slices, to say whether bad parts can be rebuilt.
 */
export async function verifyPartSet(path: string, onProgress?: (bytesDone: number, total: number) => void, gate?: ManifestGate): Promise<VerifyResult> {
  const set = await findPartSet(path, gate);
  const par2 = await findParity(set, false);
  const whole = createHash('sha256');
  const parts: PartStatus[] = [];
  let done = 0;
  const counted = (bytes: number): void => {
    done += bytes;
    onProgress?.(done, set.manifest.size);
  };
  let needed = 0;
  for (const part of set.manifest.parts) {
    if (par2) {
      const scan = await scanPart(set.dir, part, par2, whole, counted);
      needed += scan.bad.length;
      parts.push(statusOf(set.dir, part, scan));
      continue;
    }
    parts.push(await checkedPart(set.dir, part, whole, counted));
  }
  const allParts = parts.every((part) => part.status === 'ok');
  const wholeStatus = !allParts ? 'unchecked' : whole.digest('hex') === set.manifest.sha256 ? 'ok' : 'mismatch';
  const parityFiles: PartStatus[] = [];
  for (const file of set.manifest.parity?.files ?? []) parityFiles.push(await checkedPart(set.dir, file, createHash('sha256')));
  const recovery = par2 ? await findParity(set, true, par2.setId) : undefined;
  const parity: ParityStatus | undefined = par2
    ? { recoverySetId: par2.setId, sliceSize: par2.sliceSize, recoverySlices: recovery?.recovery.length ?? 0, needed, repairable: recovery !== undefined && shortfall(recovery, needed) === undefined }
    : undefined;
  return {
    manifestPath: set.manifestPath,
    name: set.manifest.name,
    size: set.manifest.size,
    parts,
    whole: wholeStatus,
    ok: wholeStatus === 'ok',
    ...(parity ? { parity } : {}),
    ...(set.manifest.parity ? { parityFiles } : {}),
  };
}

/** A part (or a file listed like one) read and checked: its status, never an error for what is wrong with it. */
async function checkedPart(dir: string, part: PartEntry, whole: Hash, counted?: (bytes: number) => void): Promise<PartStatus> {
  try {
    for await (const chunk of verifiedPart(dir, part, partBytes(dir, part), whole)) counted?.(chunk.length);
    return { name: part.name, size: part.size, status: 'ok' };
  } catch (err) {
    if (!(err instanceof PartError)) throw err;
    return { name: part.name, size: part.size, status: err.problem, detail: err.message };
  }
}

/** For a set whose manifest lists PAR2 files that are missing or damaged: one line naming them; else undefined. */
export function parityFilesProblem(result: VerifyResult): string | undefined {
  if (!result.parityFiles?.some((file) => file.status !== 'ok')) return undefined;
  const intact = result.parity ? `${count(result.parity.recoverySlices, 'recovery slice')} intact` : 'no parity usable';
  return `${result.manifestPath}: ${badParts(result.parityFiles, 'PAR2 file')}; ${intact}`;
}

/** A scan's finding as a part's status, in the words the reader's errors use. */
function statusOf(dir: string, part: PartEntry, scan: PartScan): PartStatus {
  if (scan.status === 'ok') return { name: part.name, size: part.size, status: 'ok' };
  const error = scan.status === 'missing' ? missingPart(part, dir) : scan.status === 'size' ? sizeError(part, scan.size!) : sha256Error(part, scan.sha256!);
  return { name: part.name, size: part.size, status: scan.status, detail: error.message };
}
