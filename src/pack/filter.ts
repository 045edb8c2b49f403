/**
 * The path rules (PathRules) and --mtime applied to a tree that arrives as
 * a list of members (a tar stream or file) instead of a walk: the same
 * members a walk of the same tree would keep, so `import DIR --preset X`
 * and `pack DIR | import - --preset X` give the same layer.
 */
import { InvalidInputError, displayPath } from '../errors.js';
import type { TreeMember } from '../layers/members.js';
import type { PathRules } from './excludes.js';

export async function* filterMembers(
  members: AsyncIterable<TreeMember> | Iterable<TreeMember>,
  rules: PathRules,
  options: { where: string; clampMtime?: number },
): AsyncGenerator<TreeMember, void, undefined> {
  for await (const member of members) {
    const entry = member.entry;
    const path = withoutSlash(entry.path);
    if (rules.leavesOut(path)) continue;
    if (entry.type === 'hardlink' && entry.linkpath && rules.leavesOut(withoutSlash(entry.linkpath))) {
      // A walk would store this name as the file; the tar's body went with the name left out and cannot be read back.
      throw new InvalidInputError(options.where, `${displayPath(path)}: a hardlink to ${displayPath(entry.linkpath)}, which the exclusions leave out; exclude both names, or import the directory itself`);
    }
    const clamp = options.clampMtime;
    const mtime = clamp !== undefined && entry.mtime > clamp ? clamp : entry.mtime;
    if (entry.type === 'file' && entry.size > 0 && rules.truncated(path)) {
      yield { ...member, entry: { ...entry, size: 0, mtime }, content: undefined };
    } else if (mtime !== entry.mtime) {
      yield { ...member, entry: { ...entry, mtime } };
    } else {
      yield member;
    }
  }
}

/** A member name as the rules see it: no "./" in front, no "/" after a directory. */
function withoutSlash(path: Buffer): Buffer {
  let start = 0;
  while (path.length - start >= 2 && path[start] === 0x2e && path[start + 1] === 0x2f) start += 2;
  while (path.length - start >= 1 && path[start] === 0x2f) start++;
  let end = path.length;
  while (end > start && path[end - 1] === 0x2f) end--;
  return path.subarray(start, end);
}
