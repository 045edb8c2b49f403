/**
 * One pass of a new tree (a stream of members) against an indexed old one
 * (tree-index.ts): what a layer on top of the old tree must hold for the
 * merged result to be the new tree, as an overlay upper directory would hold
 * it. `rootfs import --base`/`commit` write it as a layer; `rootfs diff`
 * prints it.
 *
 * - A path is carried when it is new, or its type, mode, owner, mtime, size,
 *   link target, device numbers or xattrs differ, or only its content does.
 *   Same size and whole-second mtime do not prove a file unchanged (an edit
 *   within the second, an mtime set back), so a file whose metadata matches
 *   has its content compared with the old tree's sum, unless it is a file on
 *   disk whose inode has not changed since the old tree's capture began
 *   (capture.ts): such a file is never read. A tar's or an image's body is
 *   read through anyway, so it is always compared.
 * - A removed path becomes one whiteout at the top of what was removed (not
 *   one per descendant); a directory replaced by a non-directory needs none,
 *   as the non-directory replaces the subtree in every unpacker.
 * - Every carried path's parent directories come first (as containerd's diff
 *   writes them), from the new tree: an unpacker that extracts a layer into
 *   a directory of its own (docker's overlay2) would otherwise make them
 *   0755 root and hide the old ones' modes.
 * - Hardlinks are kept whole inside the layer, as overlayfs copies a file up
 *   when a new link is made to it: when one name of a content changes or a
 *   name is added, all its names are carried, the first with the content.
 *   docker's overlay2 unpacks each layer alone and cannot link into a lower one.
 */
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash, type Hash } from 'node:crypto';
import { pipeline as pipe, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { displayPath, InvalidInputError } from '../errors.js';
import { removeOnInterrupt, tempName } from '../io/temp.js';
import { DigestStream, digestHex } from '../oci/digest.js';
import type { TarEntry } from '../tar/header.js';
import { safeLinkTarget, safeMemberPath } from '../tar/paths.js';
import type { TreeMember } from './members.js';
import { ROOT } from './plan.js';
import { contentSum, DIRECTORY, FILE, NO_ENTRY, TreeIndex } from './tree-index.js';

/**
 * Why a path is in the layer: it is new, or differs; or it is there only to
 * keep a hardlink group whole, or as the parent directory of something that is.
 */
export type CarryReason = 'added' | 'changed' | 'linked' | 'parent';

export type Change =
  /** entry.path is the normalised path; a hardlink's linkpath the normalised target, carried before it. */
  | { kind: 'carry'; node: number; entry: TarEntry; content?: () => Readable; why: CarryReason }
  /** Removed with everything under it; `size` is what the old tree had there. */
  | { kind: 'delete'; node: number; entry?: undefined; size: number };

export interface CompareOptions {
  /** Names the new tree in errors. */
  where: string;
  /** Compare the content of every file whose metadata is the same, whatever its ctime (--checksum, as rsync -c). */
  checksum?: boolean;
  /** A file on disk whose metadata is the same and whose ctime (ns) is before this is unchanged (capture.ts trustedBefore). */
  trustedBefore?: bigint;
  /**
   * The changes are written as a layer: carried files need their content.
   * A hardlink target that was left out and cannot be read again (a tar went
   * past) is then taken from the old tree at the end, through this.
   */
  oldContent?: (reps: Set<number>) => AsyncIterable<{ node: number; entry: TarEntry; content: () => Readable }>;
  /** Whether carried files need content (a layer) or not (a diff). */
  withContent: boolean;
  /** The new tree's index, made as its members pass (a layer's compare only: carried files' sums come from their content on its way into the layer). */
  record?: RecordedTree;
}

/**
 * The index of the tree a compare saw, over the old tree's trie: each
 * member's metadata, and its content's sum: the old one where the content
 * was trusted or found the same, else hashed as the layer reads it. Whole
 * once every carried file's content has been read to its end.
 */
export class RecordedTree {
  readonly tree: TreeIndex;
  /** Carried files whose content has not been read through yet. */
  private unread = 0;
  /** Something the index cannot say (a hardlink to a non-file, a file carried without content). */
  private broken = false;

  constructor(old: TreeIndex) {
    this.tree = new TreeIndex(old.index);
  }

  get whole(): boolean {
    return !this.broken && this.unread === 0;
  }

  member(node: number, entry: TarEntry, old: TreeIndex, unchanged: boolean): void {
    const tree = this.tree;
    tree.fit();
    tree.entries++;
    tree.record(node, entry);
    if (entry.type === 'file' && unchanged) old.sums.copy(tree.sums, node * 32, old.rep[node]! * 32, old.rep[node]! * 32 + 32);
  }

  link(node: number, target: number): void {
    const tree = this.tree;
    tree.fit();
    tree.entries++;
    if (tree.rep[target]! < 0) this.broken = true;
    else tree.recordLink(node, target);
  }

  /** A carried file's content, hashed into the index on its way into the layer. */
  summed(node: number, content: (() => Readable) | undefined): (() => Readable) | undefined {
    if (!content) {
      this.broken = true;
      return undefined;
    }
    this.unread++;
    return () => {
      const digest = new DigestStream();
      digest.once('end', () => {
        Buffer.from(digestHex(digest.digest), 'hex').copy(this.tree.sums, node * 32);
        this.unread--;
      });
      // pipeline, not pipe: a failed read fails the stream the layer reads.
      return pipe(content(), digest, () => {});
    };
  }
}

/** Node flags of the new tree. */
const SEEN = 1;
const NEW_DIRECTORY = 2;
const CARRIED = 4;

/** The names of one content in the new tree whose first name was not carried (yet). */
interface LinkGroup {
  /** The first name's content, when it can be read again. */
  content: (() => Readable) | undefined;
  entry: TarEntry | undefined;
  /** Names seen so far, each with why it would be carried: those that matched the old tree are carried only with their group. */
  links: { entry: TarEntry; why: CarryReason }[];
  /** A name was added or changed, and the first name's content must come from the old tree (at the end). */
  fromOld: boolean;
}

export async function* compareTree(old: TreeIndex, members: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: CompareOptions): AsyncGenerator<Change, void, undefined> {
  const index = old.index;
  let flags = new Uint8Array(Math.max(1024, old.type.length));
  const flagsFor = (): Uint8Array => {
    if (index.count > flags.length) {
      const grown = new Uint8Array(Math.max(index.count, flags.length * 2));
      grown.set(flags);
      flags = grown;
    }
    return flags;
  };
  flags[ROOT] = SEEN | NEW_DIRECTORY | CARRIED;
  /** The new tree's directory headers (path left empty), for carrying parents. */
  const directories = new Map<number, TarEntry>();
  const groups = new Map<number, LinkGroup>();
  const where = options.where;

  /** The entry at node with its parents not yet carried before it. */
  function* carry(node: number, entry: TarEntry, content: (() => Readable) | undefined, why: CarryReason): Generator<Change> {
    yield* parents(node);
    flags[node] = flags[node]! | CARRIED;
    yield { kind: 'carry', node, entry: { ...entry, path: index.path(node) }, ...(content ? { content } : {}), why };
  }
  function* parents(node: number): Generator<Change> {
    const missing: number[] = [];
    for (let n = index.parent[node]!; n > ROOT && (flags[n]! & CARRIED) === 0; n = index.parent[n]!) missing.push(n);
    for (let i = missing.length - 1; i >= 0; i--) {
      const dir = missing[i]!;
      const entry = directories.get(dir);
      flags[dir] = flags[dir]! | CARRIED;
      if (entry) yield { kind: 'carry', node: dir, entry: { ...entry, path: index.path(dir) }, why: 'parent' };
    }
  }
  function* carryLink(node: number, entry: TarEntry, target: number, why: CarryReason): Generator<Change> {
    yield* carry(node, { ...entry, type: 'hardlink', size: 0, linkpath: index.path(target) }, undefined, why);
  }

  for await (const member of members) {
    const { entry } = member;
    const path = safeMemberPath(entry.path, where);
    const node = old.node(path);
    flagsFor();
    // Ancestors without entries of their own (a tar need not list them) are directories of the new tree too.
    for (let n = index.parent[node]!; n > ROOT && (flags[n]! & SEEN) === 0; n = index.parent[n]!) flags[n] = SEEN | NEW_DIRECTORY;
    flags[node] = (flags[node]! & CARRIED) | SEEN | (entry.type === 'directory' ? NEW_DIRECTORY : 0);
    if (node === ROOT) {
      options.record?.member(node, entry, old, false);
      continue;
    }
    const before = old.type[node]!;
    const why: CarryReason = before === NO_ENTRY ? 'added' : 'changed';

    if (entry.type === 'hardlink') {
      const where_ = `${where}: ${displayPath(path)}`;
      const target = old.node(safeLinkTarget(entry.linkpath ?? Buffer.alloc(0), where_));
      flagsFor();
      if ((flags[target]! & SEEN) === 0) throw new InvalidInputError(where_, `hardlink to '${displayPath(entry.linkpath!)}', which is not before it`);
      options.record?.link(node, target);
      const same = before !== NO_ENTRY && old.rep[node]! >= 0 && old.rep[node] === old.rep[target];
      if ((flags[target]! & CARRIED) !== 0) {
        yield* carryLink(node, entry, target, same ? 'linked' : why);
        continue;
      }
      if (!options.withContent) {
        if (!same) yield* carryLink(node, entry, target, why);
        continue;
      }
      let group = groups.get(target);
      if (!group) groups.set(target, (group = { content: undefined, entry: undefined, links: [], fromOld: false }));
      if (same || group.fromOld) {
        group.links.push({ entry: { ...entry, path }, why: same ? 'linked' : why });
      } else if (group.content && group.entry) {
        // The first name can be read again: the group is carried from here on.
        yield* carry(target, group.entry, group.content, 'linked');
        for (const link of group.links) yield* carryLink(old.node(link.entry.path), link.entry, target, link.why);
        groups.delete(target);
        yield* carryLink(node, entry, target, why);
      } else {
        group.fromOld = true;
        group.links.push({ entry: { ...entry, path }, why });
      }
      continue;
    }

    if (entry.type === 'directory') directories.set(node, { ...entry, path: EMPTY });
    let changed = before === NO_ENTRY || !old.sameMetadata(node, entry);
    // A file the new tree has under this one name that shared its content with other names before.
    if (!changed && entry.type === 'file' && member.linked === false && old.names[old.rep[node]!]! > 1) changed = true;
    let content = member.content;
    if (!changed && entry.type === 'file' && content && (options.checksum || !unchangedSince(member, options.trustedBefore))) {
      const checked = await checkContent(old, node, member, options.withContent);
      changed = checked.changed;
      content = checked.content;
    }
    options.record?.member(node, entry, old, !changed);
    if (changed) {
      const carried = options.withContent ? content : undefined;
      yield* carry(node, entry, options.record && entry.type === 'file' ? options.record.summed(node, carried) : carried, why);
    } else if (entry.type === 'file' && member.linked && member.replayable && options.withContent) {
      groups.set(node, { entry, content: member.content, links: [], fromOld: false });
    }
  }

  if (options.withContent) yield* fromOldTree(old, groups, options, carry, carryLink);

  flagsFor();
  for (let node = 1; node < index.count; node++) {
    if (old.type[node] === NO_ENTRY || (flags[node]! & SEEN) !== 0) continue;
    const parent = index.parent[node]!;
    if ((flags[parent]! & NEW_DIRECTORY) === 0) continue;
    if (parent !== ROOT && old.type[parent] !== DIRECTORY) continue;
    yield* parents(node);
    yield { kind: 'delete', node, size: old.type[node] === FILE ? old.size[node]! : 0 };
  }
}

const EMPTY = Buffer.alloc(0);

/** Whether a file on disk has not changed since before `before` (its inode's ctime, which nothing can set back). */
function unchangedSince(member: TreeMember, before: bigint | undefined): boolean {
  return before !== undefined && member.ctimeNs !== undefined && member.ctimeNs < before;
}

/** Hardlink groups whose first name went past unread: the content comes from the old tree, then every name. */
async function* fromOldTree(
  old: TreeIndex,
  groups: Map<number, LinkGroup>,
  options: CompareOptions,
  carry: (node: number, entry: TarEntry, content: (() => Readable) | undefined, why: CarryReason) => Generator<Change>,
  carryLink: (node: number, entry: TarEntry, target: number, why: CarryReason) => Generator<Change>,
): AsyncGenerator<Change, void, undefined> {
  const wanted = new Map<number, number[]>();
  for (const [target, group] of groups) {
    if (!group.fromOld) continue;
    const rep = old.rep[target]!;
    const targets = wanted.get(rep);
    if (targets) targets.push(target);
    else wanted.set(rep, [target]);
  }
  if (wanted.size === 0) return;
  for await (const { node: rep, entry, content } of options.oldContent!(new Set(wanted.keys()))) {
    const targets = wanted.get(rep);
    if (!targets) continue;
    wanted.delete(rep);
    // An old content split into several new groups is the first name of each: a body read once is kept aside for the others.
    const read = targets.length === 1 ? content : await spool(content());
    for (const target of targets) {
      yield* carry(target, { ...entry, type: 'file' }, read, 'linked');
      for (const link of groups.get(target)!.links) yield* carryLink(old.node(link.entry.path), link.entry, target, link.why);
    }
  }
  const [missing] = wanted.keys();
  if (missing !== undefined) throw new InvalidInputError(options.where, `the base image has no content for '${displayPath(old.index.path(missing))}', which a new hardlink needs`);
}

/**
 * A body up to this size is kept in memory: a re-capture from a tar hashes
 * every file whose metadata matches, and most files of a root are small.
 */
const SPOOL_IN_MEMORY = 1 << 20;

/** A body kept aside (in memory, or in a temp file), to be read (once) later; a temp file goes when that read closes. */
async function spool(body: Readable, hash?: Hash): Promise<() => Readable> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const held: Buffer[] = [];
  let size = 0;
  while (size <= SPOOL_IN_MEMORY) {
    const next = await chunks.next();
    if (next.done) return () => Readable.from(held, { objectMode: false });
    hash?.update(next.value);
    held.push(next.value);
    size += next.value.length;
  }
  const file = tempName(tmpdir(), 'rootfs-spool');
  // Removed on Ctrl-C like every unfinished file; the registration ends when the file goes.
  const release = removeOnInterrupt(file);
  try {
    await pipeline(async function* () {
      yield* held.splice(0);
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
        hash?.update(next.value);
        yield next.value;
      }
    }, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    rmSync(file, { force: true });
    release();
    throw err;
  }
  return () => {
    const stream = createReadStream(file);
    stream.on('close', () => {
      rmSync(file, { force: true });
      release();
    });
    return stream;
  };
}

/**
 * Whether a file whose metadata matched has other content. A file on disk is
 * read again to be carried; a tar's body can be read only once, so it is
 * kept aside while hashed.
 */
async function checkContent(old: TreeIndex, node: number, member: TreeMember, withContent: boolean): Promise<{ changed: boolean; content?: () => Readable }> {
  const sum = old.sums.subarray(old.rep[node]! * 32, old.rep[node]! * 32 + 32);
  if (member.replayable || !withContent) {
    const changed = !(await contentSum(member.content!())).equals(sum);
    return { changed, content: member.content };
  }
  const hash = createHash('sha256');
  const content = await spool(member.content!(), hash);
  if (hash.digest().equals(sum)) {
    content().destroy();
    return { changed: false };
  }
  return { changed: true, content };
}
