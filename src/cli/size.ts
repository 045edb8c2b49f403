/**
 * Sizes on the command line and in messages: one parser, one formatter, one
 * unit system. K, M, G, T are binary (1024, as GNU split reads them and as
 * KiB…TiB say outright); KB, MB, GB, TB are decimal (1000, as media are
 * sold). Every size rootfs prints is binary and spelled KiB, MiB, GiB, TiB,
 * rounded to three digits where it reports an amount (progress, summaries);
 * a size the user may type back (a part size, a limit) is printed so that it
 * parses to the same bytes: in a unit when that is exact, else in bytes
 * (fat32's 4GiB - 1 byte as 4294967295B, not as the rounded 4GiB).
 */
import { UsageError } from '../errors.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * Part sizes for common media. fat32 is its largest file (4 GiB - 1 byte);
 * optical discs are their capacity as sold (decimal), a little under what a
 * blank really holds, which leaves room for the file system; cd is 700 MiB,
 * under the 703 MiB of an 80-minute CD-R.
 */
export const sizePresets: Readonly<Record<string, number>> = {
  fat32: 4 * GiB - 1,
  cd: 700 * MiB,
  dvd: 4.7e9,
  'dvd-dl': 8.5e9,
  bd25: 25e9,
  bd50: 50e9,
};

const multipliers: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: KiB, kib: KiB, kb: 1000,
  m: MiB, mib: MiB, mb: 1000 ** 2,
  g: GiB, gib: GiB, gb: 1000 ** 3,
  t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4,
};

/** For help texts: how a size is written. */
export const sizeSyntax = 'K/M/G/T = KiB/MiB/GiB/TiB, powers of 1024; KB/MB/GB/TB, powers of 1000; no unit = bytes';

/**
 * A size in bytes: a number with a unit (case ignored; a fraction such as
 * 4.7GB is rounded down to whole bytes) or, when presets is true, a preset
 * name. option names the flag in errors; min is the smallest size it takes,
 * and belowMin what to do about a smaller one.
 */
export function parseSize(text: string, option: string, options: { min?: number; belowMin?: string; presets?: boolean } = {}): number {
  const bytes = (options.presets ? sizePresets[text.toLowerCase()] : undefined) ?? sizeInBytes(text);
  if (bytes === undefined) {
    throw new UsageError(`${option}: bad size '${text}': use a number with ${sizeSyntax}${options.presets ? `, or ${Object.keys(sizePresets).join(', ')}` : ''}`);
  }
  const min = options.min ?? 1;
  if (bytes < min) throw new UsageError(`${option}: '${text}' is ${formatExactBytes(bytes)}, less than the smallest allowed, ${formatExactBytes(min)}${options.belowMin ? ` (${options.belowMin})` : ''}`);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${option}: '${text}' is too large`);
  return bytes;
}

/** A number with a unit, in whole bytes; undefined if it is not one. */
function sizeInBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const multiplier = match ? multipliers[match[2]!.toLowerCase()] : undefined;
  return multiplier === undefined ? undefined : Math.floor(Number(match![1]) * multiplier);
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Sizes for people: binary units, three significant digits ("1.5GiB", "700MiB", "512B"). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value}B`;
  const text = value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0).replace(/\.0+$|(\.\d*?)0+$/, '$1');
  return `${text}${units[unit]}`;
}

/** A size the user may type back: formatBytes when that parses to the same bytes, else the bytes, with the rounded size beside them. */
export function formatExactBytes(bytes: number): string {
  const rounded = formatBytes(bytes);
  return sizeInBytes(rounded) === bytes ? rounded : `${bytes}B (about ${rounded})`;
}
