/**
 * Cutting a stream into a part set in one pass: each part is hashed as it is
 * written, to a hidden temp name, fsynced and renamed; the whole file is
 * hashed alongside; the manifest goes last. An old set of the same name in
 * DIR stops being a set first (its manifest is removed), and its parts that
 * the new manifest does not list are removed at the end.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError } from '../errors.js';
import { isAlive, removeOnInterrupt, tempName } from '../io/temp.js';
import { fsyncPath, makeDirectory, placeAtomically, writeFileAtomic } from '../io/durable.js';
import { refuseStoreDestination } from '../io/output.js';
import {
  checkBaseName,
  manifestName,
  minPartDigits,
  partName,
  partNamePattern,
  partSetFormat,
  partSetVersion,
  partTempPattern,
  parityNamePattern,
  parityTempPattern,
  type ParityEntry,
  type PartEntry,
  type PartManifest,
} from './manifest.js';
import { writeParity, type ParityResult } from '../par2/index.js';

export interface SplitOptions {
  /** The input, as read errors should name it. */
  source: string;
  /** Where the parts and the manifest go; created if missing. */
  dir: string;
  /** The original file's name: parts are <name>.part0001…, the manifest <name>.parts.json. */
  name: string;
  partSize: number;
  /** The input's size when known (a file): makes every part number the same width, so `ls` sorts them beyond 9999 parts too. */
  expectedSize?: number;
  onProgress?: (bytesDone: number) => void;
  /** PAR2 recovery data, this percent of the data (as par2 create -r), written after the parts. */
  parity?: number;
  /** Bytes of recovery slices computed at once (default 64 MiB): more parity is computed in several passes over the parts. */
  parityMemory?: number;
  onParityProgress?: (bytesDone: number, total: number) => void;
}

export interface SplitResult {
  manifestPath: string;
  manifest: PartManifest;
  /** Stale parts (and temp files of interrupted splits) of an older set of the same name that were removed. */
  removed: string[];
  /** How the parity was made, when asked for. */
  parity?: ParityResult;
}

interface OpenPart {
  name: string;
  temp: string;
  /** Unregisters the temp file from removal on interrupt. */
  release: () => void;
  handle: FileHandle;
  hash: Hash;
  size: number;
}

export async function splitToParts(input: AsyncIterable<Buffer>, options: SplitOptions): Promise<SplitResult> {
  const { dir, partSize } = options;
  const base = checkBaseName(options.name, 'part set name');
  const manifestPath = join(dir, manifestName(base));
  const digits = Math.max(minPartDigits, String(Math.ceil((options.expectedSize ?? 0) / partSize)).length);
  // Until the manifest vouches for them, the parts written (and the manifest itself) go if the command is interrupted,
  // and so do the directories made for them.
  const releases: Array<() => void> = [];
  let made: string | undefined;
  await refuseStoreDestination(dir);
  try {
    const directory = await makeDirectory(dir, undefined, true);
    made = directory.made;
    releases.push(directory.release);
    await rm(manifestPath, { force: true });
  } catch (err) {
    throw fromFsError(err, manifestPath);
  }
  await fsyncPath(dir);

  const whole = createHash('sha256');
  const parts: PartEntry[] = [];
  const parityFiles: PartEntry[] = [];
  let current: OpenPart | undefined;
  // Parity files being written: several are open at once while a pass's recovery slices go out.
  const parityOpen = new Set<OpenPart>();
  let done = 0;
  try {
    for await (const chunk of input) {
      for (let offset = 0; offset < chunk.length; ) {
        current ??= await startPart(dir, partName(base, parts.length + 1, digits));
        const piece = chunk.subarray(offset, offset + Math.min(partSize - current.size, chunk.length - offset));
        await writeAll(current, piece);
        whole.update(piece);
        offset += piece.length;
        if (current.size === partSize) {
          parts.push(await finishPart(dir, current, releases));
          current = undefined;
        }
      }
      done += chunk.length;
      options.onProgress?.(done);
    }
    if (current) {
      parts.push(await finishPart(dir, current, releases));
      current = undefined;
    }
    let parity: ParityResult | undefined;
    let parityEntry: ParityEntry | undefined;
    if (options.parity !== undefined && parts.length > 0) {
      parity = await writeParity({
        dir,
        base,
        files: parts,
        percent: options.parity,
        ...(options.parityMemory ? { memory: options.parityMemory } : {}),
        creator: 'rootfs split',
        ...(options.onParityProgress ? { onProgress: options.onParityProgress } : {}),
        open: async (name) => {
          const file = await startPart(dir, name);
          parityOpen.add(file);
          return {
            write: (data) => writeAll(file, data),
            close: async () => {
              parityFiles.push(await finishPart(dir, file, releases));
              parityOpen.delete(file);
            },
          };
        },
      });
      parityEntry = { format: 'par2', recoverySetId: parity.recoverySetId, files: [...parityFiles].sort((a, b) => a.name.localeCompare(b.name)) };
    }
    // The part names must be durable before the manifest that vouches for them.
    await fsyncPath(dir);
    const manifest: PartManifest = { format: partSetFormat, version: partSetVersion, name: base, size: done, sha256: whole.digest('hex'), partSize, parts, ...(parityEntry ? { parity: parityEntry } : {}) };
    releases.push(removeOnInterrupt(manifestPath));
    await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    for (const release of releases.splice(0)) release();
    const removed = await removeStale(dir, base, new Set([...parts, ...parityFiles].map((part) => part.name)));
    return { manifestPath, manifest, removed, ...(parity ? { parity } : {}) };
  } catch (err) {
    for (const open of [...(current ? [current] : []), ...parityOpen]) {
      await open.handle.close().catch(() => {});
      await rm(open.temp, { force: true });
      open.release();
    }
    // Without a manifest the parts are not a set; leaving them would only look like one.
    for (const part of [...parts, ...parityFiles]) await rm(join(dir, part.name), { force: true });
    if (made !== undefined) await rm(made, { recursive: true, force: true });
    for (const release of releases) release();
    throw fromFsError(err, options.source);
  }
}

async function startPart(dir: string, name: string): Promise<OpenPart> {
  const temp = tempName(dir, `.${name}`);
  const release = removeOnInterrupt(temp);
  try {
    return { name, temp, release, handle: await open(temp, 'wx', 0o644), hash: createHash('sha256'), size: 0 };
  } catch (err) {
    release();
    throw fromFsError(err, temp);
  }
}

async function writeAll(part: OpenPart, data: Buffer): Promise<void> {
  try {
    // writeFile on a handle writes at the current position and loops over short writes.
    await part.handle.writeFile(data);
  } catch (err) {
    throw fromFsError(err, part.temp);
  }
  part.hash.update(data);
  part.size += data.length;
}

async function finishPart(dir: string, part: OpenPart, releases: Array<() => void>): Promise<PartEntry> {
  const path = join(dir, part.name);
  try {
    await part.handle.sync();
    await part.handle.close();
    // Registered before the rename: an interrupt that lands while it is under way must still find the part.
    releases.push(removeOnInterrupt(path));
    // The directory is fsynced once, after the last part.
    await placeAtomically(part.temp, path, { syncDirectory: false });
  } catch (err) {
    throw fromFsError(err, path);
  } finally {
    part.release();
  }
  return { name: part.name, size: part.size, sha256: part.hash.digest('hex') };
}

/** Only names of this set's own pattern are touched: other files in DIR, and other sets, are not ours. */
async function removeStale(dir: string, base: string, keep: Set<string>): Promise<string[]> {
  const parts = [partNamePattern(base), parityNamePattern(base)];
  const temps = [partTempPattern(base), parityTempPattern(base)];
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw fromFsError(err, dir);
  }
  for (const name of names.sort()) {
    // A temp file of a split still running (another set being cut under the same name) is not stale.
    const temp = temps.map((pattern) => pattern.exec(name)).find((found) => found !== null);
    if (!(parts.some((pattern) => pattern.test(name)) && !keep.has(name)) && !(temp && !isAlive(Number(temp[1])))) continue;
    try {
      await rm(join(dir, name), { force: true });
    } catch (err) {
      throw fromFsError(err, join(dir, name));
    }
    removed.push(name);
  }
  if (removed.length > 0) await fsyncPath(dir);
  return removed;
}
