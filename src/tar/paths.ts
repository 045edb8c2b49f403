/**
 * Member path safety: every name that comes out of an archive goes through
 * here before it names anything on disk or in a layer, so a hostile archive
 * cannot point outside the root it is unpacked into.
 */
import { displayPath, InvalidInputError } from '../errors.js';

const SLASH = 0x2f;
const maxOwnerId = 0xfffffffe;
const DOT = Buffer.from('.');
const WHITEOUT = Buffer.from('.wh.');

/**
 * Normalised relative member path (no leading "./", no "//" or "/./",
 * directory trailing slash removed) or throws InvalidInputError naming the
 * member for: absolute paths, any ".." component, NUL bytes, empty names.
 * The archive root itself ("./", ".") comes back as ".".
 */
export function safeMemberPath(path: Buffer, where: string): Buffer {
  return normalise(path, where, 'member');
}

/**
 * Same checks for a hardlink target (must stay inside the archive root).
 * Symlink targets are not checked here (they may be absolute; escapes are the
 * extractor's business).
 */
export function safeLinkTarget(target: Buffer, where: string): Buffer {
  return normalise(target, where, 'hardlink target');
}

/** The checks every member of a layer passes: its name, and a hardlink's target, stay inside the root. */
export function checkLayerEntry(entry: { type: string; path: Buffer; linkpath?: Buffer | undefined; uid?: number; gid?: number }, where: string): void {
  const path = safeMemberPath(entry.path, where);
  // A whiteout `.wh.NAME` deletes the sibling NAME: one named "", "." or ".." would delete the directory itself or its parent.
  const name = path.subarray(path.lastIndexOf(SLASH) + 1);
  if (name.subarray(0, WHITEOUT.length).equals(WHITEOUT)) {
    const target = name.subarray(WHITEOUT.length).toString('latin1');
    if (target === '' || target === '.' || target === '..') throw new InvalidInputError(where, `whiteout '${displayPath(entry.path)}' names no file ('${target}')`);
  }
  if (entry.type === 'hardlink') safeLinkTarget(entry.linkpath ?? Buffer.alloc(0), where);
  // No file system can hold a symlink to "" (symlink(2) says ENOENT): it would import, then fail every unpack.
  if (entry.type === 'symlink' && !entry.linkpath?.length) throw new InvalidInputError(where, `symlink '${displayPath(entry.path)}': empty target`);
  // uid_t is 32 bits and (uid_t)-1 means "unchanged" to chown(2): a larger owner cannot be given to any file.
  for (const [field, id] of [['uid', entry.uid], ['gid', entry.gid]] as const) {
    if (id !== undefined && !(Number.isSafeInteger(id) && id >= 0 && id <= maxOwnerId)) throw new InvalidInputError(where, `'${displayPath(entry.path)}': ${field} ${id} is out of range (0 to ${maxOwnerId})`);
  }
}

function normalise(path: Buffer, where: string, what: string): Buffer {
  const refuse = (why: string): never => {
    throw new InvalidInputError(where, `${what} '${displayPath(path)}': ${why}`);
  };
  if (path.length === 0) refuse('empty name');
  if (path.includes(0)) refuse('name contains a NUL byte');
  if (path[0] === SLASH) refuse('absolute path');
  const parts: Buffer[] = [];
  let start = 0;
  while (start <= path.length) {
    let end = path.indexOf(SLASH, start);
    if (end < 0) end = path.length;
    const part = path.subarray(start, end);
    if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) refuse("'..' component");
    if (part.length > 0 && !part.equals(DOT)) parts.push(part);
    start = end + 1;
  }
  if (parts.length === 0) return Buffer.from(DOT);
  if (parts.length === 1) return Buffer.from(parts[0]!);
  const out = Buffer.allocUnsafe(parts.reduce((sum, part) => sum + part.length + 1, -1));
  let pos = 0;
  for (const part of parts) {
    if (pos > 0) out[pos++] = SLASH;
    pos += part.copy(out, pos);
  }
  return out;
}
