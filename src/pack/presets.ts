/**
 * Presets: named sets of exclusions and scrubbing for a kind of root, kept
 * as JSON files in the package's presets/ directory (format in docs/pack.md).
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromFsError, InvalidInputError, NotFoundError } from '../errors.js';
import { isMissing, readMetadataSync } from '../io/metadata.js';

export interface Preset {
  name: string;
  description: string;
  /** Globs (excludes syntax) of paths left out, with everything under them. */
  exclude: string[];
  /** Globs of regular files stored empty, keeping owner, mode and times (machine-id, logs). */
  truncate: string[];
}

/** The shape of a presets/NAME.json file. */
interface PresetFile {
  description: string;
  /** Another preset whose lists come first. */
  extends?: string;
  exclude?: string[];
  truncate?: string[];
}

// dist/src/pack/presets.js → the package root is three levels up.
export const PRESET_DIR = fileURLToPath(new URL('../../../presets/', import.meta.url));

/** Every preset in presets/, by name. */
export function listPresets(dir = PRESET_DIR): Preset[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch (err) {
    throw fromFsError(err, dir);
  }
  return names.sort().map((name) => loadPreset(basename(name, '.json'), dir));
}

/** A preset by name, or from a .json file when given a path (anything with a "/"). */
export function loadPreset(nameOrFile: string, dir = PRESET_DIR): Preset {
  return resolve(nameOrFile, dir, []);
}

/**
 * Several presets as one (`--preset centos --preset container`): their lists
 * joined in the order given; undefined for none.
 */
export function loadPresets(namesOrFiles: string[], dir = PRESET_DIR): Preset | undefined {
  if (namesOrFiles.length === 0) return undefined;
  const presets = namesOrFiles.map((name) => loadPreset(name, dir));
  if (presets.length === 1) return presets[0];
  return {
    name: presets.map((preset) => preset.name).join('+'),
    description: presets.map((preset) => preset.description).join('; '),
    exclude: presets.flatMap((preset) => preset.exclude),
    truncate: presets.flatMap((preset) => preset.truncate),
  };
}

function resolve(nameOrFile: string, dir: string, seen: string[]): Preset {
  const isFile = nameOrFile.includes('/');
  const file = isFile ? nameOrFile : join(dir, `${nameOrFile}.json`);
  if (!isFile && !/^[a-z0-9][a-z0-9._-]*$/i.test(nameOrFile)) {
    throw new NotFoundError(`no preset named ${JSON.stringify(nameOrFile)} (see rootfs presets)`);
  }
  if (seen.includes(file)) throw new InvalidInputError(file, `preset extends itself through ${seen.map((f) => basename(f, '.json')).join(' → ')}`);
  let text: string;
  try {
    text = readMetadataSync(file, 'settings', 'a preset').toString('utf8');
  } catch (err) {
    if (isMissing(err) && !isFile) {
      throw new NotFoundError(`no preset named ${JSON.stringify(nameOrFile)} (see rootfs presets)`);
    }
    throw fromFsError(err, file);
  }
  const parsed = parsePresetFile(text, file);
  const parent = parsed.extends === undefined ? undefined : resolve(parsed.extends, dir, [...seen, file]);
  return {
    name: basename(file, '.json'),
    description: parsed.description,
    exclude: [...(parent?.exclude ?? []), ...(parsed.exclude ?? [])],
    truncate: [...(parent?.truncate ?? []), ...(parsed.truncate ?? [])],
  };
}

function parsePresetFile(text: string, file: string): PresetFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(file, `not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError(file, 'a preset must be a JSON object');
  const known = new Set(['description', 'extends', 'exclude', 'truncate']);
  for (const key of Object.keys(value)) if (!known.has(key)) throw new InvalidInputError(file, `unknown key ${JSON.stringify(key)} (known: ${[...known].join(', ')})`);
  const record = value as Record<string, unknown>;
  if (typeof record.description !== 'string') throw new InvalidInputError(file, '"description" must be a string');
  if (record.extends !== undefined && typeof record.extends !== 'string') throw new InvalidInputError(file, '"extends" must be a preset name');
  for (const key of ['exclude', 'truncate']) {
    const list = record[key];
    if (list !== undefined && !(Array.isArray(list) && list.every((item) => typeof item === 'string' && item !== ''))) {
      throw new InvalidInputError(file, `"${key}" must be a list of non-empty glob strings`);
    }
  }
  return record as unknown as PresetFile;
}
