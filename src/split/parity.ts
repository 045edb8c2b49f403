/**
 * A part set's PAR2 parity, as the reader uses it: found (the files the
 * manifest lists, else PAR2 files of the set's name, as `par2 create` over
 * the parts makes them), each part checked slice by slice against its
 * checksums, and a part's bytes with its bad slices taken from a rebuild.
 * The rebuild lives in a temp file under the system temp directory: nothing
 * in the set's directory is written.
 */
import { createHash, type Hash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError, fromFsError } from '../errors.js';
import { isMissing, openRegular } from '../io/metadata.js';
import { readPar2, sliceMatches, type Par2File, type Par2Set, type Rebuilt } from '../par2/index.js';
import { parityNamePattern, type PartEntry, type PartSet } from './manifest.js';

/** The set's parity (its recovery slices read and checked when recovery), or undefined when it has none usable. */
export async function findParity(set: PartSet, recovery: boolean, knownSetId?: string): Promise<Par2Set | undefined> {
  const { manifest, dir } = set;
  const pattern = parityNamePattern(manifest.name);
  let names = manifest.parity?.files.map((file) => file.name);
  if (!names) {
    try {
      names = (await readdir(dir)).filter((name) => pattern.test(name)).sort();
    } catch (err) {
      throw fromFsError(err, dir);
    }
  }
  if (names.length === 0) return undefined;
  const index = `${manifest.name}.par2`;
  const setId = manifest.parity?.recoverySetId ?? knownSetId;
  const read = (files: string[]): Promise<Par2Set | undefined> => readPar2(files.map((name) => join(dir, name)), { recovery, ...(setId ? { setId } : {}) });
  // Checksums alone are in NAME.par2, a small file; the volumes are read only when it is damaged or recovery slices are wanted.
  const par2 = (!recovery && names.includes(index) ? await read([index]) : undefined) ?? (await read(names));
  return par2 && covers(par2, set) ? par2 : undefined;
}

/** Parity made over other files (or an older cut of the same name) is not this set's. */
function covers(par2: Par2Set, set: PartSet): boolean {
  return set.manifest.parts.every((part) => par2.files.get(part.name)?.length === part.size);
}

export interface PartScan {
  status: 'ok' | 'missing' | 'size' | 'sha256';
  /** The size found, when not the manifest's. */
  size?: number;
  /** The sha256 found, when not the manifest's. */
  sha256?: string;
  /** The slices that do not match their checksums. */
  bad: number[];
}

/** One read of a part: its sha256 (and whole's, given) and which of its slices are bad. */
export async function scanPart(dir: string, part: PartEntry, par2: Par2Set, whole?: Hash, onBytes?: (bytes: number) => void): Promise<PartScan> {
  const file = par2.files.get(part.name)!;
  const all = file.slices.map((_, i) => i);
  let opened;
  try {
    opened = await openRegular(join(dir, part.name));
  } catch (err) {
    if (isMissing(err)) return { status: 'missing', bad: all };
    throw err;
  }
  const { handle, size } = opened;
  try {
    const hash = createHash('sha256');
    const bad: number[] = [];
    for await (const { index, data, matches } of slicesOf(handle, Math.min(size, part.size), file, par2.sliceSize)) {
      hash.update(data);
      whole?.update(data);
      onBytes?.(data.length);
      if (!matches) bad.push(index);
    }
    if (size !== part.size) return { status: 'size', size, bad };
    const sha256 = hash.digest('hex');
    return sha256 === part.sha256 ? { status: 'ok', bad: [] } : { status: 'sha256', sha256, bad };
  } catch (err) {
    throw fromFsError(err, join(dir, part.name));
  } finally {
    await handle.close();
  }
}

/** A file's slices from a handle holding `size` of its bytes: each slice's bytes (unpadded) and whether it matches its checksum. */
async function* slicesOf(handle: { read: (buffer: Buffer, offset: number, length: number, position: number) => Promise<{ bytesRead: number }> }, size: number, file: Par2File, sliceSize: number): AsyncGenerator<{ index: number; data: Buffer; matches: boolean }> {
  for (let index = 0; index < file.slices.length; index++) {
    const padded = Buffer.alloc(sliceSize);
    const start = index * sliceSize;
    const want = Math.max(0, Math.min(sliceSize, size - start));
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(padded, got, want - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const length = Math.min(sliceSize, file.length - start);
    yield { index, data: padded.subarray(0, Math.min(got, length)), matches: got === length && sliceMatches(file.slices[index]!, padded) };
  }
}

/**
 * A part's bytes for the reader: slice by slice, each checked against its
 * checksum, a bad or missing one taken from the rebuild (made on first need
 * by repair). The part's sha256 is still checked by the reader over what this gives.
 */
export async function* repairedPart(dir: string, part: PartEntry, par2: Par2Set, repair: () => Promise<Rebuilt>): AsyncGenerator<Buffer> {
  const file = par2.files.get(part.name)!;
  const path = join(dir, part.name);
  let opened;
  try {
    opened = await openRegular(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  const handle = opened?.handle ?? { read: async () => ({ bytesRead: 0 }) };
  try {
    for await (const { index, data, matches } of slicesOf(handle, Math.min(opened?.size ?? 0, part.size), file, par2.sliceSize)) {
      if (matches) {
        yield data;
        continue;
      }
      const rebuilt = await (await repair()).slice(part.name, index);
      // Not rebuilt: the check found the part whole (parity that is not this set's), or the slice changed since; the part's sha256 decides.
      yield rebuilt ? rebuilt.subarray(0, Math.min(par2.sliceSize, part.size - index * par2.sliceSize)) : data;
    }
  } catch (err) {
    throw err instanceof InvalidInputError ? err : fromFsError(err, path);
  } finally {
    await opened?.handle.close();
  }
}
