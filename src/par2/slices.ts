/** What writing and repairing share: slices read from a file, and the native multiply-add spread over the cores. */
import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { native } from '../native/index.js';

/** How many bytes of slices are read per native call. */
export const batchBytes = 8 << 20;
/** The default bound on the slices being computed at once (recovery slices when writing, rebuilt ones when repairing). */
export const defaultMemory = 64 << 20;

/** Slices first… of a file of fileSize bytes into `into` (count slices), zero-padded past the file's end: PAR2's last slice of a file is. */
export async function readSlices(handle: FileHandle, fileSize: number, first: number, count: number, sliceSize: number, into: Buffer): Promise<void> {
  const start = first * sliceSize;
  const want = Math.max(0, Math.min(count * sliceSize, fileSize - start));
  let got = 0;
  while (got < want) {
    const { bytesRead } = await handle.read(into, got, want - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  into.fill(0, got, count * sliceSize);
}

/** out[r] ^= Σ_c coefficients[r·cols + c] · inputs[c], the rows split between the cores. */
export async function multiplyAdd(out: Buffer, inputs: Buffer, coefficients: Uint16Array, sliceSize: number): Promise<void> {
  const rows = out.length / sliceSize;
  const cols = inputs.length / sliceSize;
  const jobs = Math.min(rows, availableParallelism());
  const per = Math.ceil(rows / jobs);
  const calls: Array<Promise<void>> = [];
  for (let first = 0; first < rows; first += per) {
    const last = Math.min(rows, first + per);
    calls.push(native.gfMultiplyAdd(out.subarray(first * sliceSize, last * sliceSize), inputs, coefficients.subarray(first * cols, last * cols), sliceSize));
  }
  await Promise.all(calls);
}

/** How many slices of sliceSize fit in bytes, at least one. */
export function slicesIn(bytes: number, sliceSize: number): number {
  return Math.max(1, Math.floor(bytes / sliceSize));
}
