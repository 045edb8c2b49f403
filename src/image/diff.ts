/**
 * `rootfs diff A B`: what differs between image A's merged tree and B (an
 * image or a directory), by the same compare that writes import --base's
 * layer, as docker diff's A/C/D: added, changed, deleted (a deleted
 * directory once, at its top). Paths kept in a layer only for their parents
 * or hardlinks are not differences and are not listed.
 */
import { UsageError } from '../errors.js';
import { trustedBefore } from '../layers/capture.js';
import { compareTree } from '../layers/compare.js';
import { imageMembers, type TreeMember } from '../layers/members.js';
import { inventoryOfTree } from '../sbom/collect.js';
import { diffPackages, type PackageChange } from '../sbom/diff.js';
import { imageInventory } from '../sbom/image.js';
import type { Store } from '../store/store.js';
import { resolveImage, type ResolvedImage } from '../store/resolve.js';
import { indexImage } from './recapture.js';
import { openTree, pathKind, type TreeChoice } from './tree-input.js';

export interface TreeDifference {
  kind: 'A' | 'C' | 'D';
  /** Absolute, as docker diff prints it. */
  path: string;
  /** File content bytes (for D, what the old tree had). */
  size: number;
}

/** `origin`: B is a directory on disk, that one (capture.ts treeOrigin). */
export async function* diffTrees(store: Store, a: ResolvedImage, aRef: string, b: AsyncIterable<TreeMember> | Iterable<TreeMember>, options: { where: string; checksum?: boolean; origin?: string; onNotice?: (message: string) => void }): AsyncGenerator<TreeDifference, void, undefined> {
  // A command that only reads uses a kept tree index but never writes one.
  const old = await indexImage(store, a, aRef, options.onNotice);
  const trusted = trustedBefore(a.manifest.annotations, options.origin);
  for await (const change of compareTree(old, b, { where: options.where, checksum: options.checksum, trustedBefore: trusted, withContent: false })) {
    if (change.kind === 'delete') {
      yield { kind: 'D', path: `/${old.index.path(change.node).toString('utf8')}`, size: change.size };
    } else if (change.why === 'added' || change.why === 'changed') {
      yield { kind: change.why === 'added' ? 'A' : 'C', path: `/${change.entry.path.toString('utf8')}`, size: change.entry.type === 'file' ? change.entry.size : 0 };
    }
  }
}

export interface DiffOptions {
  /** B's tree options, when it is a directory or a tarball. */
  tree: TreeChoice;
  /** Some tree option was given: refused when B is an image, to which none applies. */
  treeOptionsGiven?: boolean;
  checksum?: boolean;
  /** Said and gone on past: a base layer's label its bytes contradict, a damaged tree index file. */
  onNotice?: (message: string) => void;
}

/**
 * `rootfs diff A B`: image A's tree against B, sorted by path. B names an
 * image unless it is a path on this machine (as docker's PATH|IMAGE
 * arguments); a directory's mount points kept empty are named.
 */
export async function diffImage(store: Store, a: string, b: string, options: DiffOptions): Promise<{ differences: TreeDifference[]; notEntered: readonly string[] }> {
  const image = await resolveImage(store, a);
  const useImage = pathKind(b) === 'none';
  if (useImage && options.treeOptionsGiven) throw new UsageError(`${b} is an image: pack's flags (--preset, --exclude, …) apply to a directory or tarball B`);
  const tree = useImage ? undefined : await openTree(b, options.tree);
  const members = tree ? tree.members : imageMembers(store, (await resolveImage(store, b)).manifest.layers, b);
  const differences: TreeDifference[] = [];
  for await (const difference of diffTrees(store, image, a, members, { where: b, checksum: Boolean(options.checksum), origin: tree?.origin, ...(options.onNotice ? { onNotice: options.onNotice } : {}) })) differences.push(difference);
  differences.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return { differences, notEntered: tree?.notEntered ?? [] };
}

/** diff --stat: how many paths were added, changed and deleted, and their bytes. */
export function diffStat(differences: readonly TreeDifference[]): { added: number; changed: number; deleted: number; addedBytes: number; changedBytes: number; deletedBytes: number } {
  const stat = { added: 0, changed: 0, deleted: 0, addedBytes: 0, changedBytes: 0, deletedBytes: 0 };
  for (const { kind, size } of differences) {
    const key = kind === 'A' ? 'added' : kind === 'C' ? 'changed' : 'deleted';
    stat[key]++;
    stat[`${key}Bytes`] += size;
  }
  return stat;
}

/** diff --packages: the package databases of image A and of B (an image unless a path here), compared; warnings: databases that could not be read. */
export async function diffImagePackages(store: Store, a: string, b: string, tree: TreeChoice): Promise<{ changes: PackageChange[]; warnings: string[] }> {
  const before = await imageInventory(store, await resolveImage(store, a), a);
  const after = pathKind(b) === 'none' ? await imageInventory(store, await resolveImage(store, b), b) : await inventoryOfTree((await openTree(b, tree)).members);
  return { changes: diffPackages(before, after), warnings: [...before.warnings, ...after.warnings] };
}
