/**
 * Writing PAR 2.0 recovery data for a set of files, as `par2 create -rPCT`
 * would: NAME.par2 holds the critical packets (main, file descriptions,
 * slice checksums, creator) and NAME.volE+C.par2 files the recovery slices,
 * C of them from exponent E, in par2cmdline's doubling sizes, each followed by
 * a copy of the critical packets. The recovery slices being computed are held
 * in at most `memory` bytes; when the parity is larger it is computed in
 * several passes over the files.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { UsageError, fromFsError } from '../errors.js';
import { openRegular } from '../io/metadata.js';
import { constantLogs, coefficient, maxInputSlices } from './gf16.js';
import {
  compareFileIds,
  creatorBody,
  fileDescriptionBody,
  fileId,
  mainBody,
  md5,
  packet,
  packetHeader,
  packetTypes,
  recoveryExponent,
  sliceChecksumsBody,
  type SliceCheck,
} from './format.js';
import { batchBytes, defaultMemory, multiplyAdd, readSlices, slicesIn } from './slices.js';

/** A file the parity is written to, in order; the caller decides where and how (temp name, fsync, rename). */
export interface OutputFile {
  write(data: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface ParityOptions {
  dir: string;
  /** The set's name: NAME.par2, NAME.vol… */
  base: string;
  /** The files the recovery set covers, in DIR. */
  files: Array<{ name: string; size: number }>;
  /** Recovery data as a percentage of the data, as par2 create -r. */
  percent: number;
  open: (name: string) => Promise<OutputFile>;
  /** Bytes of recovery slices computed at once (default 64 MiB). */
  memory?: number;
  creator: string;
  onProgress?: (bytesDone: number, total: number) => void;
}

export interface ParityResult {
  recoverySetId: string;
  sliceSize: number;
  inputSlices: number;
  recoverySlices: number;
  passes: number;
  /** The files written, in the order written. */
  names: string[];
}

/** par2cmdline's default slice size: about 2000 slices, a multiple of 4, never more than PAR2's 32768. */
function chooseSliceSize(sizes: number[]): number {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const roundUp = (bytes: number): number => Math.max(4, Math.ceil(bytes / 4) * 4);
  let sliceSize = Math.max(roundUp(Math.ceil(total / 2000)), roundUp(Math.ceil(total / maxInputSlices)));
  // Every file has at least one slice, so many small files need larger slices than the total suggests.
  const largest = sizes.reduce((max, size) => Math.max(max, size), 0);
  while (sliceCount(sizes, sliceSize) > maxInputSlices && sliceSize < largest) sliceSize = roundUp(sliceSize * 2);
  return sliceSize;
}

function sliceCount(sizes: number[], sliceSize: number): number {
  return sizes.reduce((sum, size) => sum + Math.ceil(size / sliceSize), 0);
}

/** par2cmdline's "variable" scheme: files of 1, 2, 4… recovery slices, as many files as R has bits. */
function recoveryFiles(base: string, recoverySlices: number): Array<{ name: string; exponent: number; count: number }> {
  const fileCount = Math.max(1, Math.floor(Math.log2(recoverySlices)) + 1);
  let low = 1;
  while (2 ** fileCount * low - low < recoverySlices) low *= 2;
  const files: Array<{ exponent: number; count: number }> = [];
  for (let exponent = 0, left = recoverySlices, i = 0; i < fileCount; i++, low *= 2) {
    const count = Math.min(low, left);
    files.push({ exponent, count });
    exponent += count;
    left -= count;
  }
  const digits = (n: number): number => String(n).length;
  const lowDigits = digits(recoverySlices);
  const countDigits = digits(Math.max(...files.map((file) => file.count)));
  return files
    .filter((file) => file.count > 0)
    .map((file) => ({ ...file, name: `${base}.vol${String(file.exponent).padStart(lowDigits, '0')}+${String(file.count).padStart(countDigits, '0')}.par2` }));
}

interface InputFile {
  name: string;
  size: number;
  id: Buffer;
  md5First16k: Buffer;
  /** Index of its first slice in the recovery set (files in file ID order). */
  firstSlice: number;
  slices: SliceCheck[];
  md5?: Buffer;
}

export async function writeParity(options: ParityOptions): Promise<ParityResult> {
  const { dir, base, percent } = options;
  const sizes = options.files.map((file) => file.size);
  const sliceSize = chooseSliceSize(sizes);
  const inputSlices = sliceCount(sizes, sliceSize);
  if (inputSlices > maxInputSlices) throw new UsageError(`--parity: ${options.files.length} parts are more than PAR2's ${maxInputSlices} slices can cover: use larger parts`);
  const recoverySlices = Math.max(1, Math.round((inputSlices * percent) / 100));
  const files: InputFile[] = [];
  for (const file of options.files) files.push(await identify(dir, file.name, file.size));
  const ordered = [...files].sort((a, b) => compareFileIds(a.id, b.id));
  let next = 0;
  for (const file of ordered) {
    file.firstSlice = next;
    next += Math.ceil(file.size / sliceSize);
  }
  const logs = constantLogs(inputSlices);
  const perPass = Math.min(recoverySlices, slicesIn(options.memory ?? defaultMemory, sliceSize));
  const passes = Math.ceil(recoverySlices / perPass);
  const total = sizes.reduce((sum, size) => sum + size, 0) * passes;
  const volumes = recoveryFiles(base, recoverySlices);
  let critical: Buffer[] | undefined;
  let setId: Buffer | undefined;
  let volume = 0;
  let output: OutputFile | undefined;
  let done = 0;
  const out = Buffer.alloc(perPass * sliceSize);
  const inputs = Buffer.alloc(Math.min(inputSlices, slicesIn(batchBytes, sliceSize)) * sliceSize);
  for (let first = 0; first < recoverySlices; first += perPass) {
    const rows = Math.min(perPass, recoverySlices - first);
    const results = out.subarray(0, rows * sliceSize).fill(0);
    const hashing = first === 0;
    for (const file of files) {
      const whole = hashing ? createHash('md5') : undefined;
      const count = Math.ceil(file.size / sliceSize);
      // One file open at a time: a set may have more parts than a process may have descriptors.
      const path = join(dir, file.name);
      const { handle } = await openRegular(path);
      try {
        for (let slice = 0; slice < count; ) {
          const cols = Math.min(count - slice, inputs.length / sliceSize);
          const batch = inputs.subarray(0, cols * sliceSize);
          await readSlices(handle, file.size, slice, cols, sliceSize, batch);
          const coefficients = new Uint16Array(rows * cols);
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) coefficients[r * cols + c] = coefficient(logs[file.firstSlice + slice + c]!, first + r);
          // The checksums are made on this thread while the pool multiplies: both only read the batch.
          const multiplied = multiplyAdd(results, batch, coefficients, sliceSize);
          if (whole) {
            for (let c = 0; c < cols; c++) {
              const bytes = batch.subarray(c * sliceSize, (c + 1) * sliceSize);
              file.slices.push({ md5: md5(bytes), crc32: crc32(bytes) });
            }
            whole.update(batch.subarray(0, Math.min(cols * sliceSize, file.size - slice * sliceSize)));
          }
          await multiplied;
          slice += cols;
          done += Math.min(cols * sliceSize, file.size - (slice - cols) * sliceSize);
          options.onProgress?.(done, total);
        }
      } catch (err) {
        throw fromFsError(err, path);
      } finally {
        await handle.close();
      }
      if (whole) file.md5 = whole.digest();
    }
    if (!critical) ({ critical, setId } = criticalPackets(ordered, sliceSize, options.creator));
    for (let r = 0; r < rows; r++) {
      const exponent = first + r;
      const current = volumes[volume]!;
      if (exponent === current.exponent) output = await options.open(current.name);
      const data = results.subarray(r * sliceSize, (r + 1) * sliceSize);
      const head = recoveryExponent(exponent);
      await output!.write(Buffer.concat([packetHeader(setId!, packetTypes.recoverySlice, head, data), head]));
      await output!.write(data);
      if (exponent === current.exponent + current.count - 1) {
        for (const piece of critical) await output!.write(piece);
        await output!.close();
        volume++;
      }
    }
  }
  const index = await options.open(`${base}.par2`);
  for (const piece of critical!) await index.write(piece);
  await index.close();
  return { recoverySetId: setId!.toString('hex'), sliceSize, inputSlices, recoverySlices, passes, names: [...volumes.map((v) => v.name), `${base}.par2`] };
}

/** A file's PAR2 identity (its file ID, from the MD5 of its first 16 KiB, its length and name), which orders the files before a slice is multiplied. */
async function identify(dir: string, name: string, size: number): Promise<InputFile> {
  const path = join(dir, name);
  const { handle } = await openRegular(path);
  try {
    const first = Buffer.alloc(Math.min(size, 16384));
    await readSlices(handle, size, 0, 1, first.length, first);
    const md5First16k = md5(first);
    return { name, size, id: fileId(md5First16k, size, name), md5First16k, firstSlice: 0, slices: [] };
  } catch (err) {
    throw fromFsError(err, path);
  } finally {
    await handle.close();
  }
}

/** The packets every PAR2 file of the set carries, and the recovery set ID (the MD5 of the main packet's body). */
function criticalPackets(ordered: InputFile[], sliceSize: number, creator: string): { critical: Buffer[]; setId: Buffer } {
  const main = mainBody(sliceSize, ordered.map((file) => file.id));
  const setId = md5(main);
  const critical = [packet(setId, packetTypes.main, main)];
  for (const file of ordered) {
    critical.push(packet(setId, packetTypes.fileDescription, fileDescriptionBody({ fileId: file.id, md5: file.md5!, md5First16k: file.md5First16k, length: file.size, name: file.name })));
    critical.push(packet(setId, packetTypes.sliceChecksums, sliceChecksumsBody(file.id, file.slices)));
  }
  critical.push(packet(setId, packetTypes.creator, creatorBody(creator)));
  return { critical, setId };
}
