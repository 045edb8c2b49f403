/**
 * Reading PAR2 files back and rebuilding lost slices from them. Only
 * packets whose MD5 checks are used, so a damaged parity file gives what is
 * intact in it. A rebuild solves the d×d system over GF(2^16) for the d bad
 * slices (Gauss-Jordan in JS: d is at most the recovery slices), then makes
 * each bad slice in one pass over the good slices and d recovery slices,
 * as many at once as fit in the memory bound, into a temp file that is
 * never beside the data (the media stay as they are).
 */
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { InvalidInputError, fromFsError } from '../errors.js';
import { documentCaps, isMissing, openRegular } from '../io/metadata.js';
import { removeOnInterrupt, tempName } from '../io/temp.js';
import { coefficient, constantLogs, gfMultiply, invertMatrix, maxInputSlices } from './gf16.js';
import {
  findMagic,
  headerLength,
  headerSize,
  magicLength,
  md5,
  packetTypes,
  parseFileDescription,
  parseMain,
  parseSliceChecksums,
  type FileDescription,
  type SliceCheck,
} from './format.js';
import { batchBytes, defaultMemory, multiplyAdd, readSlices, slicesIn } from './slices.js';

export interface Par2File extends FileDescription {
  slices: SliceCheck[];
  /** Index of its first slice in the recovery set. */
  firstSlice: number;
}

export interface RecoverySlice {
  exponent: number;
  path: string;
  /** Where its data starts in path. */
  offset: number;
  /** Bytes of data: the slice size, in a packet of this set. */
  length: number;
}

export interface Par2Set {
  setId: string;
  sliceSize: number;
  /** By name, as the file description packets give them. */
  files: Map<string, Par2File>;
  inputSlices: number;
  /** Recovery slices whose packet MD5 checked, one per exponent; empty when not asked for. */
  recovery: RecoverySlice[];
}

interface Packets {
  main?: { sliceSize: number; fileIds: Buffer[] };
  descriptions: Map<string, FileDescription>;
  checksums: Map<string, SliceCheck[]>;
  recovery: Map<number, RecoverySlice>;
  /** Slices in the checksums kept: at most PAR2's 32,768. */
  slices: number;
}

/** Recovery sets whose packets are kept while reading files that hold several (ours has one; par2 create makes one per run). */
const setsKept = 8;

/**
 * The recovery set in these files (setId's when given, else the first main
 * packet's), or undefined when no usable one is there (no main packet, or a
 * file it names has no intact description and checksums). With recovery,
 * every recovery slice is read to check its MD5; without, they are skipped.
 */
export async function readPar2(paths: string[], options: { setId?: string; recovery: boolean }): Promise<Par2Set | undefined> {
  const sets = new Map<string, Packets>();
  let first: string | undefined;
  for (const path of paths) {
    await scanPackets(path, options.recovery, (setId, type, body, offset) => {
      const id = setId.toString('hex');
      if (options.setId !== undefined && id !== options.setId) return;
      let set = sets.get(id);
      if (!set) {
        // Memory is bounded whatever the files hold: a few sets, and per set no more than a real one can have.
        if (sets.size === setsKept) return;
        sets.set(id, (set = { descriptions: new Map(), checksums: new Map(), recovery: new Map(), slices: 0 }));
      }
      if (type.equals(packetTypes.main)) {
        set.main ??= parseMain(body!);
        if (set.main) first ??= id;
      } else if (type.equals(packetTypes.fileDescription)) {
        const description = parseFileDescription(body!);
        if (description && (set.descriptions.size < maxInputSlices || set.descriptions.has(description.fileId.toString('hex')))) set.descriptions.set(description.fileId.toString('hex'), description);
      } else if (type.equals(packetTypes.sliceChecksums)) {
        const checksums = parseSliceChecksums(body!);
        const key = checksums?.fileId.toString('hex');
        if (checksums && !set.checksums.has(key!) && set.slices + checksums.slices.length <= maxInputSlices) {
          set.checksums.set(key!, checksums.slices);
          set.slices += checksums.slices.length;
        }
      } else if (type.equals(packetTypes.recoverySlice) && offset.exponent! < 65535) {
        set.recovery.set(offset.exponent!, { exponent: offset.exponent!, path, offset: offset.data, length: offset.length! });
      }
    });
  }
  const id = options.setId ?? first;
  const packets = id === undefined ? undefined : sets.get(id);
  if (!packets?.main) return undefined;
  const { sliceSize, fileIds } = packets.main;
  const files = new Map<string, Par2File>();
  let next = 0;
  for (const fileId of fileIds) {
    const description = packets.descriptions.get(fileId.toString('hex'));
    const slices = packets.checksums.get(fileId.toString('hex'));
    if (!description || !slices || slices.length !== Math.ceil(description.length / sliceSize)) return undefined;
    files.set(description.name, { ...description, slices, firstSlice: next });
    next += slices.length;
  }
  // A recovery slice of another size (a damaged or foreign packet whose MD5 still checks) cannot be used.
  const recovery = [...packets.recovery.values()].filter((slice) => slice.length === sliceSize).sort((a, b) => a.exponent - b.exponent);
  return { setId: id!, sliceSize, files, inputSlices: next, recovery };
}

/** How much of a parity file is read at once while checking a recovery slice or looking for the next packet. */
const scanChunk = 1 << 20;

type PacketSink = (setId: Buffer, type: Buffer, body: Buffer | undefined, where: { data: number; exponent?: number; length?: number }) => void;

/** Every packet in the file whose MD5 checks (a recovery slice's only when checkRecovery; its data is not held), resynchronising on the magic after damage. A missing file has none. */
async function scanPackets(path: string, checkRecovery: boolean, sink: PacketSink): Promise<void> {
  let handle: FileHandle;
  let size: number;
  try {
    ({ handle, size } = await openRegular(path));
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  try {
    const read = async (position: number, length: number): Promise<Buffer> => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    for (let position = 0; position + headerSize <= size; ) {
      const header = await read(position, headerSize);
      const length = headerLength(header);
      if (length !== undefined && position + length <= size) {
        const setId = header.subarray(32, 48);
        const type = header.subarray(48, 64);
        const recovery = type.equals(packetTypes.recoverySlice);
        if (recovery && length >= headerSize + 8) {
          const exponent = (await read(position + headerSize, 4)).readUInt32LE(0);
          if (!checkRecovery || (await streamedMd5(read, position + 32, length - 32)).equals(header.subarray(16, 32))) {
            if (checkRecovery) sink(setId, type, undefined, { data: position + headerSize + 4, exponent, length: length - headerSize - 4 });
            position += length;
            continue;
          }
        } else if (!recovery && length <= documentCaps.par2Packet) {
          const packet = await read(position, length);
          if (md5(packet.subarray(32)).equals(header.subarray(16, 32))) {
            sink(setId, type, packet.subarray(headerSize), { data: position + headerSize });
            position += length;
            continue;
          }
        }
      }
      position = await nextMagic(read, position + 1, size);
    }
  } catch (err) {
    throw fromFsError(err, path);
  } finally {
    await handle.close();
  }
}

async function streamedMd5(read: (position: number, length: number) => Promise<Buffer>, from: number, length: number): Promise<Buffer> {
  const hash = createHash('md5');
  for (let done = 0; done < length; ) {
    const piece = await read(from + done, Math.min(scanChunk, length - done));
    if (piece.length === 0) break;
    hash.update(piece);
    done += piece.length;
  }
  return hash.digest();
}

/** The next offset from `from` where the magic is, or size when there is none. */
async function nextMagic(read: (position: number, length: number) => Promise<Buffer>, from: number, size: number): Promise<number> {
  for (let position = from; position < size; position += scanChunk - magicLength) {
    const chunk = await read(position, scanChunk);
    const at = findMagic(chunk, 0);
    if (at >= 0) return position + at;
    if (chunk.length < scanChunk) break;
  }
  return size;
}

/** Whether a slice (zero-padded to the slice size) is the one the checksums name: by its MD5 (the CRC32 is for finding slices at any offset, which we do not). */
export function sliceMatches(check: SliceCheck, padded: Buffer): boolean {
  return md5(padded).equals(check.md5);
}

/** A bad slice: slice `index` of the file named `name`. */
export interface BadSlice {
  name: string;
  index: number;
}

/** Rebuilt slices, kept in a temp file until closed. */
export interface Rebuilt {
  /** The rebuilt slice, or undefined when it was not bad. */
  slice(name: string, index: number): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

/** Why a set cannot be rebuilt: more slices bad than recovery slices intact. */
export function shortfall(set: Par2Set, bad: number): string | undefined {
  return bad > set.recovery.length ? `${bad} slices needed, ${set.recovery.length} available` : undefined;
}

/**
 * Rebuilds the bad slices of files in dir from the recovery slices of set
 * (read with recovery: true). Every other slice of every file of the set is
 * read from dir and must be good (the caller found which are not). Each
 * rebuilt slice must match its checksum, or the rebuild fails.
 */
export async function rebuildSlices(
  set: Par2Set,
  dir: string,
  bad: BadSlice[],
  options: { memory?: number; where: string; onProgress?: (bytesDone: number, total: number) => void } = { where: dir },
): Promise<Rebuilt> {
  const { sliceSize } = set;
  const lacking = shortfall(set, bad.length);
  if (lacking) throw new InvalidInputError(options.where, `cannot be rebuilt from the parity: ${lacking}`);
  const badIndex = new Map<string, number>();
  const globals = bad.map((slice, j) => {
    badIndex.set(`${slice.name}\0${slice.index}`, j);
    return set.files.get(slice.name)!.firstSlice + slice.index;
  });
  const d = bad.length;
  const logs = constantLogs(set.inputSlices);
  const recovery = set.recovery.slice(0, d);
  const matrix = new Uint16Array(d * d);
  for (let k = 0; k < d; k++) for (let j = 0; j < d; j++) matrix[k * d + j] = coefficient(logs[globals[j]!]!, recovery[k]!.exponent);
  const inverse = invertMatrix(matrix, d);
  if (!inverse) throw new InvalidInputError(options.where, `cannot be rebuilt from the parity: the ${d} recovery slices at hand do not determine the ${d} lost ones`);
  const temp = tempName(tmpdir(), 'rootfs-repair');
  const release = removeOnInterrupt(temp);
  let output: FileHandle | undefined;
  const close = async (): Promise<void> => {
    await output?.close().catch(() => {});
    output = undefined;
    await rm(temp, { force: true });
    release();
  };
  try {
    output = await open(temp, 'wx+', 0o600).catch((err: unknown) => {
      throw fromFsError(err, temp);
    });
    const perPass = Math.min(d, slicesIn(options.memory ?? defaultMemory, sliceSize));
    const batch = Buffer.alloc(slicesIn(batchBytes, sliceSize) * sliceSize);
    const batchSlices = batch.length / sliceSize;
    const rebuilt = Buffer.alloc(perPass * sliceSize);
    const passes = Math.ceil(d / perPass);
    // Each pass reads the good slices and the d recovery slices: as many as the input slices.
    const total = passes * set.inputSlices * sliceSize;
    let done = 0;
    const progress = (slices: number): void => {
      done += slices * sliceSize;
      options.onProgress?.(done, total);
    };
    for (let first = 0; first < d; first += perPass) {
      const rows = Math.min(perPass, d - first);
      const out = rebuilt.subarray(0, rows * sliceSize).fill(0);
      // The recovery slices' part: rebuilt_j = Σ_k inverse[j][k] · recovery_k + …
      for (let k = 0; k < d; k += batchSlices) {
        const cols = Math.min(batchSlices, d - k);
        for (let c = 0; c < cols; c++) await readRecovery(recovery[k + c]!, sliceSize, batch.subarray(c * sliceSize, (c + 1) * sliceSize));
        const coefficients = new Uint16Array(rows * cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) coefficients[r * cols + c] = inverse[(first + r) * d + k + c]!;
        await multiplyAdd(out, batch.subarray(0, cols * sliceSize), coefficients, sliceSize);
        progress(cols);
      }
      // … + Σ_good (Σ_k inverse[j][k] · c_i^e_k) · slice_i.
      for (const file of set.files.values()) {
        const handle = await openRegular(`${dir}/${file.name}`).then((opened) => opened.handle).catch(() => undefined);
        try {
          for (let index = 0; index < file.slices.length; ) {
            const good: number[] = [];
            while (good.length < batchSlices && index < file.slices.length) {
              if (!badIndex.has(`${file.name}\0${index}`)) good.push(index);
              index++;
            }
            if (good.length === 0) continue;
            if (!handle) throw new InvalidInputError(`${dir}/${file.name}`, 'missing, and not among the slices to rebuild');
            for (const [c, slice] of good.entries()) await readSlices(handle, file.length, slice, 1, sliceSize, batch.subarray(c * sliceSize, (c + 1) * sliceSize));
            const coefficients = new Uint16Array(rows * good.length);
            for (const [c, slice] of good.entries()) {
              const log = logs[file.firstSlice + slice]!;
              const powers = recovery.map((r) => coefficient(log, r.exponent));
              for (let r = 0; r < rows; r++) {
                let sum = 0;
                const row = (first + r) * d;
                for (let k = 0; k < d; k++) sum ^= gfMultiply(inverse[row + k]!, powers[k]!);
                coefficients[r * good.length + c] = sum;
              }
            }
            await multiplyAdd(out, batch.subarray(0, good.length * sliceSize), coefficients, sliceSize);
            progress(good.length);
          }
        } finally {
          await handle?.close();
        }
      }
      for (let r = 0; r < rows; r++) {
        const slice = bad[first + r]!;
        const data = out.subarray(r * sliceSize, (r + 1) * sliceSize);
        if (!sliceMatches(set.files.get(slice.name)!.slices[slice.index]!, data)) {
          throw new InvalidInputError(`${dir}/${slice.name}`, `slice ${slice.index} rebuilt from the parity does not match its checksum: the parity does not belong to these parts`);
        }
        await output.write(data, 0, sliceSize, (first + r) * sliceSize);
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    slice: async (name, index) => {
      const j = badIndex.get(`${name}\0${index}`);
      if (j === undefined) return undefined;
      const data = Buffer.alloc(sliceSize);
      await output!.read(data, 0, sliceSize, j * sliceSize);
      return data;
    },
    close,
  };
}

async function readRecovery(slice: RecoverySlice, sliceSize: number, into: Buffer): Promise<void> {
  const { handle, size } = await openRegular(slice.path);
  try {
    if (slice.offset + sliceSize > size) throw new InvalidInputError(slice.path, 'shorter than its recovery slices');
    let got = 0;
    while (got < sliceSize) {
      const { bytesRead } = await handle.read(into, got, sliceSize - got, slice.offset + got);
      if (bytesRead === 0) throw new InvalidInputError(slice.path, 'shorter than its recovery slices');
      got += bytesRead;
    }
  } finally {
    await handle.close();
  }
}
