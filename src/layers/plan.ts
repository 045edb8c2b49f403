/**
 * Pass 1 of flattening: reads the layers top-down, metadata only, and works
 * out which member of which layer ends up at each path of the merged tree,
 * as the image-spec's "Applying Changesets" (and containerd, umoci) apply
 * layers in order:
 *
 * - `.wh.NAME` deletes NAME and its subtree from the layers below;
 * - `DIR/.wh..wh..opq` hides everything the layers below hold in DIR, from
 *   wherever it stands in its layer;
 * - a later entry replaces an earlier one at the same path; a non-directory
 *   replacing a directory removes the directory's subtree; directories merge;
 * - a hardlink means the content its target had in that layer, even if a
 *   later layer replaces or deletes the target.
 *
 * Memory is O(number of paths): one node per path, holding for each kind of
 * change the lowest layer (of those read so far, all above the current one)
 * that made it. "Lowest so far" is all a lower entry needs: it is hidden as
 * seen from layer V exactly when some change in the layers between it and V
 * covers it.
 */
import { displayPath } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { EntryType, TarEntry } from '../tar/header.js';
import { safeLinkTarget, safeMemberPath } from '../tar/paths.js';
import { layerMembers } from './source.js';

const WHITEOUT_PREFIX = Buffer.from('.wh.');
const OPAQUE = Buffer.from('.wh..wh..opq');
const AUFS_PREFIX = Buffer.from('.wh..wh.');
const SLASH = 0x2f;
/** Seen from above every layer: the merged tree. */
const TOP = Number.MAX_SAFE_INTEGER;

/** A member of a layer, by position: `ordinal` counts the layer's members from 1. */
export interface LayerMember {
  layer: number;
  ordinal: number;
  node: PathNode;
  type: EntryType;
  /** Kept for directories only: they are written before any layer is read again. */
  entry?: TarEntry;
  /** Hardlinks: the normalised target path, and the member it means (or where it is not in the range read). */
  linkTarget?: Buffer;
  link?: LayerMember | 'below' | 'missing';
}

/** A whiteout or opaque marker the merged layer must carry (only when layers below the merged range are kept). */
export interface Marker {
  /** Where it goes in the output: `.wh.NAME` beside NAME, or DIR/.wh..wh..opq. */
  path: Buffer;
  /** The member it came from, for its owner and times. */
  entry: TarEntry;
  kind: 'whiteout' | 'opaque';
}

export class PathNode {
  children: Map<string, PathNode> | undefined;
  /** Lowest layer read so far with, at this path: any entry, a non-directory entry, a whiteout, an opaque marker. */
  entryAt = Infinity;
  nonDirAt = Infinity;
  whiteoutAt = Infinity;
  opaqueAt = Infinity;
  /** The member the merged tree has here. */
  winner: LayerMember | undefined;
  marker: Marker | undefined;
  /** This layer's last entry, whiteout and opaque marker here, applied when the layer has been read. */
  pending: LayerMember | undefined;
  pendingWhiteout: TarEntry | undefined;
  pendingOpaque: TarEntry | undefined;
  /** Hardlinks from higher layers that mean the first entry found here below `asOf`. */
  requests: { asOf: number; from: LayerMember }[] | undefined;

  constructor(readonly path: Buffer, readonly parent: PathNode | undefined) {}

  child(name: Buffer): PathNode {
    const key = name.toString('latin1');
    this.children ??= new Map();
    let node = this.children.get(key);
    if (!node) {
      node = new PathNode(this.parent === undefined ? Buffer.from(name) : Buffer.concat([this.path, Buffer.from('/'), name]), this);
      this.children.set(key, node);
    }
    return node;
  }

  /** Whether an entry here, in a layer below all the changes recorded so far, is still there as seen from layer `asOf`. */
  visibleFrom(asOf: number): boolean {
    return this.entryAt > asOf && this.whiteoutAt > asOf && !this.coveredFrom(asOf);
  }

  /** Whether a change to an ancestor up to layer `asOf` removes this path: deleted, made opaque or replaced by a non-directory. */
  coveredFrom(asOf: number): boolean {
    for (let node = this.parent; node; node = node.parent) {
      if (node.whiteoutAt <= asOf || node.opaqueAt <= asOf || node.nonDirAt <= asOf) return true;
    }
    return false;
  }
}

export interface FlattenPlan {
  root: PathNode;
  /** All the image's layers, base first. */
  layers: Descriptor[];
  /** Index of the lowest merged layer; layers below it are kept as they are. */
  from: number;
  /**
   * Index of the lowest layer read: below `from` when a merged hardlink's
   * content is in a kept layer under a path the merged layers change, so
   * the merged layer must carry that content itself.
   */
  lowest: number;
  entries: number;
}

export interface PlanOptions {
  /** Merge layers from this index up (default 0: all); whiteouts that still matter to the layers below are kept. */
  from?: number;
  /** Names the image in errors. */
  where: string;
  onLayer?: (index: number, entries: number) => void;
}

/**
 * Pass 1: reads each layer of the range once, top-down, collecting only the
 * path index; then, only while hardlinks still wait for their content, the
 * kept layers below.
 */
export async function planFlatten(store: Store, layers: Descriptor[], options: PlanOptions): Promise<FlattenPlan> {
  const from = options.from ?? 0;
  const root = new PathNode(Buffer.from('.'), undefined);
  const open = { requests: 0 };
  let entries = 0;
  let lowest = layers.length;
  for (let index = layers.length - 1; index >= 0; index--) {
    const merged = index >= from;
    if (!merged && (index === from - 1 ? settleAtKeptLayers(root, open) : open.requests) === 0) break;
    lowest = index;
    const where = layerWhere(options.where, index, layers[index]!);
    const touched = new Set<PathNode>();
    let ordinal = 0;
    for await (const { entry } of layerMembers(store, layers[index]!, where)) {
      ordinal++;
      entries++;
      const path = safeMemberPath(entry.path, where);
      const slash = path.lastIndexOf(SLASH);
      const base = path.subarray(slash + 1);
      if (startsWith(base, WHITEOUT_PREFIX)) {
        const dir = lookup(root, slash < 0 ? Buffer.from('.') : path.subarray(0, slash));
        if (base.equals(OPAQUE)) {
          dir.pendingOpaque = entry;
          touched.add(dir);
        } else if (!startsWith(base, AUFS_PREFIX)) {
          // `.wh..wh.*` other than the opaque marker are aufs bookkeeping, not changes.
          const target = dir.child(base.subarray(WHITEOUT_PREFIX.length));
          target.pendingWhiteout = entry;
          touched.add(target);
        }
        continue;
      }
      const node = lookup(root, path);
      const member: LayerMember = { layer: index, ordinal, node, type: entry.type };
      if (entry.type === 'directory') member.entry = entry;
      if (entry.type === 'hardlink') {
        member.linkTarget = safeLinkTarget(entry.linkpath ?? Buffer.alloc(0), `${where}: ${displayPath(path)}`);
        const target = lookup(root, member.linkTarget);
        // Earlier in this layer, or else the first entry found below.
        if (target.pending) member.link = target.pending;
        else {
          (target.requests ??= []).push({ asOf: index, from: member });
          open.requests++;
        }
      }
      node.pending = member;
      touched.add(node);
    }
    for (const node of touched) open.requests -= resolve(node, index, merged);
    for (const node of touched) applyChanges(node, index, merged && from > 0);
    options.onLayer?.(index, ordinal);
  }
  if (open.requests > 0) settleMissing(root);
  return { root, layers, from, lowest, entries };
}

/**
 * Winner (of a merged layer) and hardlink requests for this layer's entry at
 * node, against the changes of the layers above. Returns the requests it settled.
 */
function resolve(node: PathNode, index: number, merged: boolean): number {
  const member = node.pending;
  if (!member) return 0;
  if (merged && node.visibleFrom(TOP)) node.winner = member;
  if (!node.requests) return 0;
  const waiting = [];
  for (const request of node.requests) {
    if (request.asOf === index) waiting.push(request);
    else request.from.link = node.visibleFrom(request.asOf) ? member : 'missing';
  }
  const settled = node.requests.length - waiting.length;
  node.requests = waiting.length > 0 ? waiting : undefined;
  return settled;
}

/** Records this layer's changes at node, deciding first which whiteouts the merged layer must keep. */
function applyChanges(node: PathNode, index: number, keepMarkers: boolean): void {
  const hasEntry = node.pending !== undefined || node.entryAt !== Infinity;
  if (node.pendingWhiteout) {
    if (keepMarkers && !node.marker && node.whiteoutAt === Infinity && !node.coveredFrom(TOP)) {
      // Deleted and never re-added: the delete must reach the kept layers. Re-added
      // as a directory: it must not merge with what they hold there.
      if (!hasEntry) node.marker = { kind: 'whiteout', path: whiteoutPath(node), entry: node.pendingWhiteout };
      else if (node.winner?.type === 'directory') node.marker = { kind: 'opaque', path: opaquePath(node), entry: node.pendingWhiteout };
    }
    node.whiteoutAt = index;
    node.pendingWhiteout = undefined;
  }
  if (node.pendingOpaque) {
    if (keepMarkers && !node.marker && node.whiteoutAt === Infinity && node.nonDirAt === Infinity && !node.coveredFrom(TOP)) {
      node.marker = { kind: 'opaque', path: opaquePath(node), entry: node.pendingOpaque };
    }
    node.opaqueAt = index;
    node.pendingOpaque = undefined;
  }
  if (node.pending) {
    node.entryAt = index;
    if (node.pending.type !== 'directory') node.nonDirAt = index;
    node.pending = undefined;
  }
}

/**
 * Below the merged layers (kept layers remain): a hardlink whose target path
 * the merged layers leave alone stays a link into the kept layers; the
 * others wait for the kept layers to be read for their content. Returns how
 * many wait.
 */
function settleAtKeptLayers(root: PathNode, open: { requests: number }): number {
  for (const node of nodes(root)) {
    if (!node.requests || node.entryAt !== Infinity || node.whiteoutAt !== Infinity || node.coveredFrom(TOP)) continue;
    for (const { from } of node.requests) from.link = 'below';
    open.requests -= node.requests.length;
    node.requests = undefined;
  }
  return open.requests;
}

/** Nothing is left to read: hardlinks still waiting point at nothing. */
function settleMissing(root: PathNode): void {
  for (const node of nodes(root)) {
    for (const { from } of node.requests ?? []) from.link = 'missing';
    node.requests = undefined;
  }
}

function* nodes(root: PathNode): Generator<PathNode> {
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.children) stack.push(...node.children.values());
    yield node;
  }
}

function lookup(root: PathNode, path: Buffer): PathNode {
  if (path.length === 1 && path[0] === 0x2e) return root;
  let node = root;
  let start = 0;
  while (start < path.length) {
    let end = path.indexOf(SLASH, start);
    if (end < 0) end = path.length;
    node = node.child(path.subarray(start, end));
    start = end + 1;
  }
  return node;
}

function whiteoutPath(node: PathNode): Buffer {
  const slash = node.path.lastIndexOf(SLASH);
  return Buffer.concat([node.path.subarray(0, slash + 1), WHITEOUT_PREFIX, node.path.subarray(slash + 1)]);
}

function opaquePath(node: PathNode): Buffer {
  return node.parent === undefined ? Buffer.from(OPAQUE) : Buffer.concat([node.path, Buffer.from('/'), OPAQUE]);
}

function startsWith(name: Buffer, prefix: Buffer): boolean {
  return name.length >= prefix.length && name.subarray(0, prefix.length).equals(prefix);
}

/** "IMAGE layer N (sha256:…)" for messages. */
export function layerWhere(image: string, index: number, layer: Descriptor): string {
  return `${image} layer ${index + 1} (${layer.digest.slice(0, 19)})`;
}
