import { UsageError } from '../errors.js';

/**
 * Part sizes for common media. fat32 is its largest file (4 GiB - 1 byte);
 * dvd is a single-layer DVD (4.7 GB decimal, as sold, which leaves room for
 * the file system); cd is 700 MiB, under the 703 MiB of an 80-minute CD-R.
 */
export const sizePresets: Readonly<Record<string, number>> = {
  fat32: 4 * 1024 ** 3 - 1,
  dvd: 4.7e9,
  cd: 700 * 1024 ** 2,
};

/**
 * Suffixes as GNU split and coreutils read them: K, M, G, T and KiB…TiB are
 * binary (1024), KB, MB, GB, TB decimal (1000); B or none is bytes. Case is
 * ignored; a fraction is allowed ("4.7GB") and rounded down to whole bytes.
 */
const multipliers: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024, kib: 1024, kb: 1000,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3,
  t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4,
};

/** A --size argument (a number with a unit, or a preset name) in bytes. */
export function parseSize(text: string): number {
  const preset = sizePresets[text.toLowerCase()];
  if (preset !== undefined) return preset;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const multiplier = match ? multipliers[match[2]!.toLowerCase()] : undefined;
  if (!match || multiplier === undefined) {
    throw new UsageError(`bad size '${text}': use a number with K, M, G, T (binary), KB, MB, GB, TB (decimal), or ${Object.keys(sizePresets).join(', ')}`);
  }
  const bytes = Math.floor(Number(match[1]) * multiplier);
  if (bytes < 1 || !Number.isSafeInteger(bytes)) throw new UsageError(`bad size '${text}': must be at least 1 byte and at most ${Number.MAX_SAFE_INTEGER}`);
  return bytes;
}
