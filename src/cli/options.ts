/** Option parsing shared by several commands. */
import { UsageError } from '../errors.js';

/** cac gives a repeated option as an array and a single one as a scalar. */
export function asList(value: unknown): string[] {
  if (value === undefined || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

export function parseLevel(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const level = Number(value);
  if (!Number.isInteger(level) || level < 0 || level > 22) throw new UsageError(`--level must be a whole number from 0 to 22, not '${String(value)}'`);
  return level;
}

/** SOURCE_DATE_EPOCH (reproducible builds) as a Date, if set; a malformed one is a usage error, not silently "now". */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): Date | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not '${value}'`);
  return new Date(Number(value) * 1000);
}
