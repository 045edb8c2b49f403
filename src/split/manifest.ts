/**
 * A part set: FILE cut into <name>.part0001, <name>.part0002, … plus
 * <name>.parts.json, which lists each part's size and sha256 and the whole
 * file's. The manifest is written last, so a set with a manifest is complete;
 * parts without one are what an interrupted split leaves.
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidInputError, NotFoundError, UsageError, fromFsError } from '../errors.js';
import { checkDocument, failer, readDocument, type DocumentKind } from './document.js';
import { escapeRegExp, tempPattern } from '../io/temp.js';
import { parseJson } from '../oci/validate.js';

export const partSetFormat = 'rootfs-parts';
export const partSetVersion = 1;
const manifestSuffix = '.parts.json';
/** Four digits keep `ls` order up to 9999 parts; larger sets get wider numbers, all of one width when the size is known up front. */
export const minPartDigits = 4;
/** A part of any set: NAME.part0001 and on. */
const anyPartName = new RegExp(`\\.part\\d{${minPartDigits},}$`);
const partManifestKind: DocumentKind = { what: 'part manifest', format: partSetFormat, version: partSetVersion, cap: 'partManifest' };

export interface PartEntry {
  name: string;
  size: number;
  /** Hex, as sha256sum prints it, so a part can be checked by hand. */
  sha256: string;
}

/** PAR2 recovery data for the parts (docs/split.md): NAME.par2 and NAME.volE+C.par2, each listed like a part. */
export interface ParityEntry {
  format: 'par2';
  /** The PAR2 recovery set ID, hex: which set of packets in the files is this one. */
  recoverySetId: string;
  files: PartEntry[];
}

export interface PartManifest {
  format: typeof partSetFormat;
  version: typeof partSetVersion;
  /** The original file's name (the base of every part name). */
  name: string;
  size: number;
  sha256: string;
  partSize: number;
  parts: PartEntry[];
  /** Absent in sets split without --parity, and in every manifest older rootfs wrote (which read on unchanged). */
  parity?: ParityEntry;
}

export interface PartSet {
  dir: string;
  manifestPath: string;
  manifest: PartManifest;
}

export function manifestName(base: string): string {
  return `${base}${manifestSuffix}`;
}

export function partName(base: string, number: number, digits: number): string {
  return `${base}.part${String(number).padStart(digits, '0')}`;
}

/** The names a set's parts can have, and nothing else: stale-part removal deletes only these. */
export function partNamePattern(base: string): RegExp {
  return new RegExp(`^${escapeRegExp(base)}\\.part\\d{${minPartDigits},}$`);
}

/** The names a set's PAR2 files can have (par2cmdline's too): NAME.par2, NAME.volE+C.par2. */
export function parityNamePattern(base: string): RegExp {
  return new RegExp(`^${escapeRegExp(base)}(\\.vol\\d+\\+\\d+)?\\.par2$`);
}

/** The temp files split writes parity files to. */
export function parityTempPattern(base: string): RegExp {
  return tempPattern(`\\.${escapeRegExp(base)}(?:\\.vol\\d+\\+\\d+)?\\.par2`);
}

/** The temp files split writes parts to (see tempName in io/temp.ts): removed when a later split of the same set finds them. */
export function partTempPattern(base: string): RegExp {
  return tempPattern(`\\.${escapeRegExp(base)}\\.part\\d{${minPartDigits},}`);
}

/** A base name must be one plain file name: it becomes part of paths in DIR. */
export function checkBaseName(name: string, where: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new InvalidInputError(where, `${JSON.stringify(name)} is not a plain file name`);
  }
  return name;
}

/**
 * True when path is a part manifest, or a directory holding one (what `load
 * -i` and `join` accept) or holding parts without one: such a directory is
 * an incomplete set, which findPartSet reports as such, not an OCI layout
 * that lacks its index.json.
 */
export async function isPartSet(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (info.isFile()) return path.endsWith(manifestSuffix);
    return info.isDirectory() && ((await manifestsIn(path)).length > 0 || (await hasParts(path)));
  } catch {
    return false;
  }
}

/**
 * The one rule for what `verify`'s argument is: a directory, a part
 * manifest's path, or a path no reference can be (/…, ./…, ../…, .) is a
 * part set, so a missing /media/usb is "no such directory"; anything else
 * names an image.
 */
export async function namesPartSet(target: string): Promise<boolean> {
  if (target.endsWith(manifestSuffix) || target === '.' || /^\.{0,2}\//.test(target)) return true;
  try {
    return (await stat(target)).isDirectory();
  } catch {
    return false;
  }
}

async function hasParts(dir: string): Promise<boolean> {
  return (await readdir(dir)).some((name) => anyPartName.test(name));
}

/**
 * Reads a set's manifest bytes through a check (a signature's: see
 * trust/part-set.ts) before the set is used; the set is parsed from the
 * bytes it returns, so what is used is what was checked, not a second read.
 */
export type ManifestGate = (manifestPath: string) => Promise<Buffer>;

/** Finds and validates the set at path: a part manifest, or a directory with exactly one; through gate when given. */
export async function findPartSet(path: string, gate?: ManifestGate): Promise<PartSet> {
  const read = async (manifestPath: string): Promise<PartManifest> =>
    gate ? parsePartManifest(checkDocument(parseJson((await gate(manifestPath)).toString('utf8'), manifestPath), manifestPath, partManifestKind), manifestPath) : readPartManifest(manifestPath);
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (err) {
    throw fromFsError(err, path);
  }
  if (!isDirectory) {
    if (!path.endsWith(manifestSuffix)) throw new UsageError(`${path}: not a part set: give the directory of the parts or its *${manifestSuffix} file`);
    return { dir: dirname(path), manifestPath: path, manifest: await read(path) };
  }
  const manifests = await manifestsIn(path);
  if (manifests.length > 1) throw new UsageError(`${path} holds ${manifests.length} part sets (${manifests.join(', ')}): name one of these files instead of the directory`);
  if (manifests.length === 0) {
    const orphans = await hasParts(path);
    // The manifest is the file that is not there, whether or not parts were left beside it.
    throw new NotFoundError(`${path}: no part manifest (*${manifestSuffix})${orphans ? ': there are parts but no manifest, so the set is incomplete (an interrupted split?)' : ''}`);
  }
  const manifestPath = join(path, manifests[0]!);
  return { dir: path, manifestPath, manifest: await read(manifestPath) };
}

async function manifestsIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => name.endsWith(manifestSuffix) && !name.startsWith('.')).sort();
  } catch (err) {
    throw fromFsError(err, dir);
  }
}

export async function readPartManifest(path: string): Promise<PartManifest> {
  return parsePartManifest(await readDocument(path, partManifestKind), path);
}

/** Every field is checked: the names become paths to read and the sizes drive the reader. */
export function parsePartManifest(value: unknown, where: string): PartManifest {
  const doc = checkDocument(value, where, partManifestKind);
  const fail = failer(where);
  if (typeof doc.name !== 'string') return fail('no original file name');
  const base = checkBaseName(doc.name, where);
  const size = count(doc.size, 'size', fail);
  const partSize = count(doc.partSize, 'partSize', fail);
  if (partSize < 1) fail('partSize must be at least 1');
  const sha256 = hex(doc.sha256, 'sha256', fail);
  if (!Array.isArray(doc.parts)) return fail('no parts array');
  const pattern = partNamePattern(base);
  const seen = new Set<string>();
  let total = 0;
  const parts = doc.parts.map((entry: unknown, i): PartEntry => {
    const at = `parts[${i}]`;
    if (typeof entry !== 'object' || entry === null) return fail(`${at} is not an object`);
    const part = entry as Record<string, unknown>;
    if (typeof part.name !== 'string' || !pattern.test(part.name)) return fail(`${at}: name ${JSON.stringify(part.name)} is not a part of ${base} (${base}.partNNNN)`);
    if (seen.has(part.name)) fail(`${at}: ${part.name} is listed twice`);
    seen.add(part.name);
    const partBytes = count(part.size, `${at}.size`, fail);
    if (partBytes < 1 || partBytes > partSize) fail(`${at}: size ${partBytes} is outside 1..partSize (${partSize})`);
    total += partBytes;
    return { name: part.name, size: partBytes, sha256: hex(part.sha256, `${at}.sha256`, fail) };
  });
  if (total !== size) fail(`the parts add up to ${total} bytes, not the file's size ${size}`);
  const parity = doc.parity === undefined ? undefined : parseParity(doc.parity, base, fail);
  return { format: partSetFormat, version: partSetVersion, name: base, size, sha256, partSize, parts, ...(parity ? { parity } : {}) };
}

function parseParity(value: unknown, base: string, fail: (detail: string) => never): ParityEntry {
  if (typeof value !== 'object' || value === null) return fail('parity is not an object');
  const parity = value as Record<string, unknown>;
  if (parity.format !== 'par2') fail(`parity.format ${JSON.stringify(parity.format)} is not "par2"`);
  if (typeof parity.recoverySetId !== 'string' || !/^[a-f0-9]{32}$/.test(parity.recoverySetId)) fail(`parity.recoverySetId ${JSON.stringify(parity.recoverySetId)} is not 16 bytes in hex`);
  if (!Array.isArray(parity.files)) return fail('parity.files is not an array');
  const pattern = parityNamePattern(base);
  const files = parity.files.map((entry: unknown, i): PartEntry => {
    const at = `parity.files[${i}]`;
    if (typeof entry !== 'object' || entry === null) return fail(`${at} is not an object`);
    const file = entry as Record<string, unknown>;
    if (typeof file.name !== 'string' || !pattern.test(file.name)) return fail(`${at}: name ${JSON.stringify(file.name)} is not a parity file of ${base} (${base}.par2, ${base}.volE+C.par2)`);
    return { name: file.name, size: count(file.size, `${at}.size`, fail), sha256: hex(file.sha256, `${at}.sha256`, fail) };
  });
  return { format: 'par2', recoverySetId: parity.recoverySetId as string, files };
}

function count(value: unknown, field: string, fail: (detail: string) => never): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return fail(`${field} ${JSON.stringify(value)} is not a byte count`);
  return value;
}

function hex(value: unknown, field: string, fail: (detail: string) => never): string {
  if (typeof value !== 'string' || !/^[a-f0-9]{64}$/.test(value)) return fail(`${field} ${JSON.stringify(value)} is not a sha256 in hex`);
  return value;
}

