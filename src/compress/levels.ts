/**
 * The compression levels rootfs takes, one table for every command with
 * --level. gzip 1–9 as gzip(1); zstd 1–19, the levels zstd(1) takes without
 * --ultra (20–22 need far more memory than a layer is worth).
 */
import { UsageError } from '../errors.js';

export const compressionLevels = {
  gzip: { min: 1, max: 9, default: 6 },
  zstd: { min: 1, max: 19, default: 3 },
} as const;

/** For help texts: "gzip 1-9, default 6; zstd 1-19, default 3". */
export const levelsHelp = Object.entries(compressionLevels)
  .map(([name, { min, max, default: fallback }]) => `${name} ${min}-${max}, default ${fallback}`)
  .join('; ');

/**
 * The level to compress with: the given one checked against the table, or
 * the default. A level for a compression that has none ("none", save's
 * "keep") is a usage error, not silently ignored.
 */
export function compressionLevel(compression: string, level: unknown): number | undefined {
  const range = (compressionLevels as Record<string, { min: number; max: number; default: number }>)[compression];
  if (level === undefined) return range?.default;
  if (!range) throw new UsageError(`--level applies to gzip and zstd; --compression ${compression} has no levels`);
  const value = typeof level === 'number' ? level : /^\s*-?\d+\s*$/.test(String(level)) ? Number(level) : NaN;
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new UsageError(`--level ${String(level)}: ${compression} levels are ${range.min} to ${range.max} (default ${range.default})`);
  }
  return value;
}
