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
 * Memory is O(number of paths), kept small: one trie node per path, as a
 * number indexing typed arrays (`PathIndex`), holding for each kind of change
 * the lowest layer (of those read so far, all above the current one) that
 * made it. "Lowest so far" is all a lower entry needs: it is hidden as seen
 * from layer V exactly when some change in the layers between it and V
 * covers it. Objects are kept only for what is rare or must be written
 * before the layers are read again: the winning directories' headers,
 * hardlinks, pending hardlink requests and kept whiteouts.
 */
import { displayPath } from '../errors.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { checkDiffId } from '../oci/validate.js';
import type { Store } from '../store/store.js';
import type { EntryType, TarEntry } from '../tar/header.js';
import { safeLinkTarget, safeMemberPath } from '../tar/paths.js';
import { layerMembers } from './source.js';

const WHITEOUT_PREFIX = Buffer.from('.wh.');
const OPAQUE = Buffer.from('.wh..wh..opq');
const AUFS_PREFIX = Buffer.from('.wh..wh.');
const DOT = Buffer.from('.');
const EMPTY = Buffer.alloc(0);
const SLASH = 0x2f;
/** The root's node. */
export const ROOT = 0;

export const ENTRY_TYPES: readonly EntryType[] = ['file', 'hardlink', 'symlink', 'chardev', 'blockdev', 'directory', 'fifo'];
const typeCode = new Map(ENTRY_TYPES.map((type, code) => [type, code]));
const DIRECTORY = typeCode.get('directory')!;
const HARDLINK = typeCode.get('hardlink')!;

/** Flags of a node for the layer being read. */
const PENDING_ENTRY = 1;
const PENDING_WHITEOUT = 2;
const PENDING_OPAQUE = 4;
const TOUCHED = 8;

/**
 * A member of a layer, by position: `ordinal` counts the layer's members from
 * 1. Made only where a hardlink needs one: for the link, and for what it means.
 */
export interface LayerMember {
  layer: number;
  ordinal: number;
  node: number;
  type: EntryType;
  /** Hardlinks: the normalised target path, and the member it means (or where it is not in the range read). */
  linkTarget?: Buffer;
  link?: LayerMember | 'below' | 'missing';
}

/** A whiteout or opaque marker the merged layer must carry (only when layers below the merged range are kept). */
export interface Marker {
  /** The member it came from, for its owner and times. */
  entry: TarEntry;
  kind: 'whiteout' | 'opaque';
}

type LayerArray = Uint16Array | Int32Array;

/**
 * The trie of paths: node n's name is names[nameStart[n], +nameLength[n]],
 * its parent parent[n]; children are found through one open-addressing hash
 * table keyed by (parent, name). Per node ~50 bytes plus its name.
 */
export class PathIndex {
  count = 1;
  private capacity: number;
  parent: Int32Array;
  nameStart: Int32Array;
  nameLength: Int32Array;
  names: Buffer;
  private namesUsed = 0;
  /** The directory of the last path looked up, and its node: a walk or a tar asks for siblings one after another. */
  private lastDirectory: Buffer | undefined;
  private lastDirectoryNode = ROOT;
  private hashes: Int32Array | undefined;
  /** Slot → node + 1 (0: empty); its size a power of two, at most half full. */
  private table: Int32Array | undefined;

  /** Lowest layer read so far with, at this path: any entry, a non-directory entry, a whiteout, an opaque marker (NONE: none). */
  entryAt: LayerArray;
  nonDirAt: LayerArray;
  whiteoutAt: LayerArray;
  opaqueAt: LayerArray;
  /** The member the merged tree has here: layer (NONE: none), ordinal, type code. */
  winnerLayer: LayerArray;
  winnerOrdinal: Int32Array;
  winnerType: Uint8Array;
  /** This layer's last entry here (ordinal, type code), applied when the layer has been read; and the PENDING_* and TOUCHED flags. */
  pendingOrdinal: Int32Array;
  pendingType: Uint8Array;
  /** This layer's last entry here: its size, counted into the plan's bytes when it wins. */
  pendingSize: Float64Array;
  flags: Uint8Array;

  /** NONE sorts above every layer index and TOP; TOP is "seen from above every layer": the merged tree. */
  readonly NONE: number;
  readonly TOP: number;
  private readonly LayerArray: Uint16ArrayConstructor | Int32ArrayConstructor;

  /** naming: the trie alone, without the per-layer state of a plan (a tree index's; 29 bytes a node less). */
  constructor(layerCount: number, private readonly naming = false) {
    const small = layerCount < 0xfff0;
    this.LayerArray = small ? Uint16Array : Int32Array;
    this.NONE = small ? 0xffff : 0x7fffffff;
    this.TOP = this.NONE - 1;
    this.capacity = 1024;
    this.parent = new Int32Array(this.capacity);
    this.nameStart = new Int32Array(this.capacity);
    this.nameLength = new Int32Array(this.capacity);
    this.names = Buffer.allocUnsafe(16 * 1024);
    this.hashes = new Int32Array(this.capacity);
    this.table = new Int32Array(this.capacity * 2);
    this.entryAt = this.layers();
    this.nonDirAt = this.layers();
    this.whiteoutAt = this.layers();
    this.opaqueAt = this.layers();
    this.winnerLayer = this.layers();
    const planned = naming ? 0 : this.capacity;
    this.winnerOrdinal = new Int32Array(planned);
    this.winnerType = new Uint8Array(planned);
    this.pendingOrdinal = new Int32Array(planned);
    this.pendingType = new Uint8Array(planned);
    this.pendingSize = new Float64Array(planned);
    this.flags = new Uint8Array(planned);
    this.parent[ROOT] = -1;
  }

  private layers(from?: LayerArray): LayerArray {
    const array = new this.LayerArray(this.naming ? 0 : this.capacity);
    if (from) array.set(from);
    else array.fill(this.NONE);
    if (from) array.fill(this.NONE, from.length);
    return array;
  }

  /** The child of `parent` called `name`, made if missing. */
  child(parent: number, name: Buffer): number {
    const table = this.table!;
    const hashes = this.hashes!;
    const hash = hashName(parent, name, 0, name.length);
    const mask = table.length - 1;
    let slot = hash & mask;
    for (let found = table[slot]!; found !== 0; found = table[slot]!) {
      const node = found - 1;
      if (hashes[node] === hash && this.parent[node] === parent && this.nameIs(node, name)) return node;
      slot = (slot + 1) & mask;
    }
    if (this.count === this.capacity) return this.grow(), this.child(parent, name);
    const node = this.count++;
    this.parent[node] = parent;
    hashes[node] = hash;
    if (this.namesUsed + name.length > this.names.length) {
      const names = Buffer.allocUnsafe(Math.max(this.names.length * 2, this.namesUsed + name.length));
      this.names.copy(names, 0, 0, this.namesUsed);
      this.names = names;
    }
    name.copy(this.names, this.namesUsed);
    this.nameStart[node] = this.namesUsed;
    this.nameLength[node] = name.length;
    this.namesUsed += name.length;
    table[slot] = node + 1;
    return node;
  }

  private nameIs(node: number, name: Buffer): boolean {
    const start = this.nameStart[node]!;
    return this.nameLength[node] === name.length && this.names.compare(name, 0, name.length, start, start + name.length) === 0;
  }

  private grow(): void {
    this.capacity *= 2;
    const int32 = (from: Int32Array): Int32Array => {
      const array = new Int32Array(this.capacity);
      array.set(from);
      return array;
    };
    const uint8 = (from: Uint8Array): Uint8Array => {
      const array = new Uint8Array(this.capacity);
      array.set(from);
      return array;
    };
    this.parent = int32(this.parent);
    this.nameStart = int32(this.nameStart);
    this.nameLength = int32(this.nameLength);
    this.hashes = int32(this.hashes!);
    if (!this.naming) {
      this.entryAt = this.layers(this.entryAt);
      this.nonDirAt = this.layers(this.nonDirAt);
      this.whiteoutAt = this.layers(this.whiteoutAt);
      this.opaqueAt = this.layers(this.opaqueAt);
      this.winnerLayer = this.layers(this.winnerLayer);
      this.winnerOrdinal = int32(this.winnerOrdinal);
      this.winnerType = uint8(this.winnerType);
      this.pendingOrdinal = int32(this.pendingOrdinal);
      this.pendingType = uint8(this.pendingType);
      const sizes = new Float64Array(this.capacity);
      sizes.set(this.pendingSize);
      this.pendingSize = sizes;
      this.flags = uint8(this.flags);
    }
    const table = new Int32Array(this.capacity * 2);
    const mask = table.length - 1;
    for (let node = 1; node < this.count; node++) {
      let slot = this.hashes[node]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = node + 1;
    }
    this.table = table;
  }

  /**
   * A naming trie from its columns (layers/tree-index-file.ts): node n's
   * parent is parents[n], before it, and its name the next nameLengths[n]
   * bytes of names. Undefined when they make no trie: a node before its
   * parent, an empty name or one with a slash, a name twice in a directory.
   */
  static load(parents: Int32Array, nameLengths: Int32Array, names: Buffer): PathIndex | undefined {
    const count = parents.length;
    const index = new PathIndex(1, true);
    while (index.capacity < count) index.grow();
    const table = index.table!;
    const hashes = index.hashes!;
    const mask = table.length - 1;
    index.parent.set(parents);
    index.nameLength.set(nameLengths);
    index.parent[ROOT] = -1;
    index.nameLength[ROOT] = 0;
    let start = 0;
    for (let node = 1; node < count; node++) {
      const parent = parents[node]!;
      const end = start + nameLengths[node]!;
      if (end <= start || end > names.length || parent < 0 || parent >= node) return undefined;
      for (let i = start; i < end; i++) if (names[i] === SLASH) return undefined;
      const hash = hashName(parent, names, start, end);
      let slot = hash & mask;
      for (let found = table[slot]!; found !== 0; found = table[slot]!) {
        const other = found - 1;
        if (hashes[other] === hash && index.parent[other] === parent && names.compare(names, start, end, index.nameStart[other]!, index.nameStart[other]! + index.nameLength[other]!) === 0) return undefined;
        slot = (slot + 1) & mask;
      }
      hashes[node] = hash;
      index.nameStart[node] = start;
      table[slot] = node + 1;
      start = end;
    }
    if (start !== names.length) return undefined;
    index.names = names;
    index.namesUsed = names.length;
    index.count = count;
    return index;
  }

  /** The node at a normalised path ("." is the root), made if missing. */
  lookup(path: Buffer): number {
    if (path.length === 1 && path[0] === 0x2e) return ROOT;
    const slash = path.lastIndexOf(SLASH);
    const last = this.lastDirectory;
    if (slash > 0 && last !== undefined && last.length === slash && path.compare(last, 0, slash, 0, slash) === 0) return this.child(this.lastDirectoryNode, path.subarray(slash + 1));
    let node = ROOT;
    let directory = ROOT;
    let start = 0;
    while (start < path.length) {
      let end = path.indexOf(SLASH, start);
      if (end < 0) end = path.length;
      directory = node;
      node = this.child(node, path.subarray(start, end));
      start = end + 1;
    }
    if (slash > 0) {
      this.lastDirectory = Buffer.from(path.subarray(0, slash));
      this.lastDirectoryNode = directory;
    }
    return node;
  }

  /** The node's path as a fresh Buffer: "." for the root, else its names joined by "/". */
  path(node: number): Buffer {
    if (node === ROOT) return Buffer.from(DOT);
    let length = -1;
    for (let n = node; n !== ROOT; n = this.parent[n]!) length += this.nameLength[n]! + 1;
    const out = Buffer.allocUnsafe(length);
    let end = length;
    for (let n = node; n !== ROOT; n = this.parent[n]!) {
      const start = this.nameStart[n]!;
      end -= this.nameLength[n]!;
      this.names.copy(out, end, start, start + this.nameLength[n]!);
      if (end > 0) out[--end] = SLASH;
    }
    return out;
  }

  /** Whether an entry here, in a layer below all the changes recorded so far, is still there as seen from layer `asOf`. */
  visibleFrom(node: number, asOf: number): boolean {
    return this.entryAt[node]! > asOf && this.whiteoutAt[node]! > asOf && !this.coveredFrom(node, asOf);
  }

  /** Whether a change to an ancestor up to layer `asOf` removes this path: deleted, made opaque or replaced by a non-directory. */
  coveredFrom(node: number, asOf: number): boolean {
    for (let n = this.parent[node]!; n >= 0; n = this.parent[n]!) {
      if (this.whiteoutAt[n]! <= asOf || this.opaqueAt[n]! <= asOf || this.nonDirAt[n]! <= asOf) return true;
    }
    return false;
  }

  /** After the plan: only what naming nodes needs is kept (the hash table, pending state and change layers are dropped). */
  release(): void {
    this.table = undefined;
    this.hashes = undefined;
    const none = new this.LayerArray(0);
    this.entryAt = this.nonDirAt = this.whiteoutAt = this.opaqueAt = none;
    this.pendingOrdinal = new Int32Array(0);
    this.pendingSize = new Float64Array(0);
    this.pendingType = this.flags = new Uint8Array(0);
  }
}

/** FNV-1a over the parent's number and the name's bytes. */
function hashName(parent: number, bytes: Buffer, start: number, end: number): number {
  let hash = (0x811c9dc5 ^ parent) >>> 0;
  hash = Math.imul(hash, 0x01000193);
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return (hash ^ (hash >>> 15)) & 0x7fffffff;
}

export interface FlattenPlan {
  index: PathIndex;
  /** Headers of the winning directories (path left empty: it is the node's), by node. */
  directories: Map<number, TarEntry>;
  /** Winners that are hardlinks, by node. */
  links: Map<number, LayerMember>;
  /** Whiteouts and opaque markers the merged layer must carry, by the node they apply to. */
  markers: Map<number, Marker>;
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
  /** File data the merged tree holds (its winning files' sizes): what writing it will take, near enough. */
  bytes: number;
}

export interface PlanOptions {
  /** Merge layers from this index up (default 0: all); whiteouts that still matter to the layers below are kept. */
  from?: number;
  /** Names the image in errors. */
  where: string;
  /** As each entry of a layer is read (top-down): the plan pass's progress. */
  onLayer?: (progress: PlanProgress) => void;
  /** The plan is made: what the merged tree holds, before it is written. */
  onPlanned?: (plan: { entries: number; bytes: number }) => void;
  /** Hears of a layer whose media type its bytes contradict (it is read as what it is). */
  onWarning?: (message: string) => void;
  /** The image's config: every layer, read whole by the plan, must decompress to its diff_id. */
  verify?: { diffIds: readonly unknown[]; configName: string };
}

export interface PlanProgress {
  /** The layer being read (from 0, base first; read from the top down), of how many the image has. */
  layer: number;
  layers: number;
  /** That layer's entries so far. */
  entries: number;
  /** Stored bytes read so far, of all layers, and what the layers to merge add up to (the range's stored sizes). */
  bytes: number;
  total: number;
}

interface Request {
  asOf: number;
  from: LayerMember;
}

/** The state of one plan pass. */
class Planner {
  readonly index: PathIndex;
  readonly directories = new Map<number, TarEntry>();
  readonly links = new Map<number, LayerMember>();
  readonly markers = new Map<number, Marker>();
  /** Hardlinks from higher layers that mean the first entry found at a node below `asOf`. */
  readonly requests = new Map<number, Request[]>();
  open = 0;
  /** File data of the winners so far. */
  bytes = 0;
  /** This layer's directory headers, hardlinks, whiteouts and opaque markers at the nodes it touched. */
  readonly pendingDirectories = new Map<number, TarEntry>();
  readonly pendingLinks = new Map<number, LayerMember>();
  readonly pendingWhiteouts = new Map<number, TarEntry>();
  readonly pendingOpaques = new Map<number, TarEntry>();
  touched = new Int32Array(1024);
  touchedCount = 0;
  /** User and group names of directories, shared. */
  private readonly strings = new Map<string, string>();

  constructor(layerCount: number) {
    this.index = new PathIndex(layerCount);
  }

  touch(node: number, flag: number): void {
    const flags = this.index.flags;
    if ((flags[node]! & TOUCHED) === 0) {
      if (this.touchedCount === this.touched.length) {
        const touched = new Int32Array(this.touched.length * 2);
        touched.set(this.touched);
        this.touched = touched;
      }
      this.touched[this.touchedCount++] = node;
    }
    flags[node] = flags[node]! | TOUCHED | flag;
  }

  /** This layer's entry at node, as a LayerMember (a hardlink is its own object, which links may chain through). */
  pendingMember(node: number, layer: number): LayerMember {
    return this.pendingLinks.get(node) ?? { layer, ordinal: this.index.pendingOrdinal[node]!, node, type: ENTRY_TYPES[this.index.pendingType[node]!]! };
  }

  intern(value: string): string {
    let shared = this.strings.get(value);
    if (shared === undefined) this.strings.set(value, (shared = value));
    return shared;
  }
}

/**
 * Pass 1: reads each layer of the range once, top-down, collecting only the
 * path index; then, only while hardlinks still wait for their content, the
 * kept layers below.
 */
export async function planFlatten(store: Store, layers: Descriptor[], options: PlanOptions): Promise<FlattenPlan> {
  const from = options.from ?? 0;
  const plan = new Planner(layers.length);
  const index = plan.index;
  let entries = 0;
  let lowest = layers.length;
  const progress: PlanProgress = { layer: 0, layers: layers.length, entries: 0, bytes: 0, total: layers.slice(from).reduce((sum, layer) => sum + layer.size, 0) };
  const onRead = options.onLayer ? (bytes: number): void => void (progress.bytes += bytes) : undefined;
  for (let layer = layers.length - 1; layer >= 0; layer--) {
    const merged = layer >= from;
    if (!merged && (layer === from - 1 ? settleAtKeptLayers(plan) : plan.open) === 0) break;
    lowest = layer;
    const where = layerWhere(options.where, layer, layers[layer]!);
    let ordinal = 0;
    const { verify } = options;
    const check = verify && ((diffId: Digest) => checkDiffId(where, layer, diffId, verify.diffIds, verify.configName));
    progress.layer = layer;
    for await (const { entry } of layerMembers(store, layers[layer]!, where, options.onWarning, { onRead, checkDiffId: check })) {
      ordinal++;
      entries++;
      const path = safeMemberPath(entry.path, where);
      const slash = path.lastIndexOf(SLASH);
      const base = path.subarray(slash + 1);
      if (startsWith(base, WHITEOUT_PREFIX)) {
        const dir = index.lookup(slash < 0 ? DOT : path.subarray(0, slash));
        if (base.equals(OPAQUE)) {
          if (merged && from > 0) plan.pendingOpaques.set(dir, entry);
          plan.touch(dir, PENDING_OPAQUE);
        } else if (!startsWith(base, AUFS_PREFIX)) {
          // `.wh..wh.*` other than the opaque marker are aufs bookkeeping, not changes.
          const target = index.child(dir, base.subarray(WHITEOUT_PREFIX.length));
          if (merged && from > 0) plan.pendingWhiteouts.set(target, entry);
          plan.touch(target, PENDING_WHITEOUT);
        }
        continue;
      }
      const node = index.lookup(path);
      const type = typeCode.get(entry.type)!;
      let link: LayerMember | undefined;
      if (type === HARDLINK) {
        link = { layer, ordinal, node, type: entry.type };
        link.linkTarget = safeLinkTarget(entry.linkpath ?? EMPTY, `${where}: ${displayPath(path)}`);
        const target = index.lookup(link.linkTarget);
        // Earlier in this layer, or else the first entry found below.
        if ((index.flags[target]! & PENDING_ENTRY) !== 0) link.link = plan.pendingMember(target, layer);
        else {
          let waiting = plan.requests.get(target);
          if (!waiting) plan.requests.set(target, (waiting = []));
          waiting.push({ asOf: layer, from: link });
          plan.open++;
        }
      }
      index.pendingOrdinal[node] = ordinal;
      index.pendingType[node] = type;
      index.pendingSize[node] = entry.type === 'file' ? entry.size : 0;
      if (link) plan.pendingLinks.set(node, link);
      else plan.pendingLinks.delete(node);
      if (type === DIRECTORY && merged) {
        // Kept until pass 2 writes it: without its path (the node's), its owner names shared.
        entry.path = EMPTY;
        if (entry.uname !== undefined) entry.uname = plan.intern(entry.uname);
        if (entry.gname !== undefined) entry.gname = plan.intern(entry.gname);
        plan.pendingDirectories.set(node, entry);
      } else plan.pendingDirectories.delete(node);
      plan.touch(node, PENDING_ENTRY);
      progress.entries = ordinal;
      options.onLayer?.(progress);
    }
    for (let i = 0; i < plan.touchedCount; i++) plan.open -= resolve(plan, plan.touched[i]!, layer, merged);
    for (let i = 0; i < plan.touchedCount; i++) applyChanges(plan, plan.touched[i]!, layer, merged && from > 0);
    plan.touchedCount = 0;
    plan.pendingDirectories.clear();
    plan.pendingLinks.clear();
    plan.pendingWhiteouts.clear();
    plan.pendingOpaques.clear();
    progress.entries = ordinal;
    options.onLayer?.(progress);
  }
  if (plan.open > 0) settleMissing(plan);
  const { directories, links, markers, bytes } = plan;
  options.onPlanned?.({ entries, bytes });
  return { index, directories, links, markers, layers, from, lowest, entries, bytes };
}

/**
 * Winner (of a merged layer) and hardlink requests for this layer's entry at
 * node, against the changes of the layers above. Returns the requests it settled.
 */
function resolve(plan: Planner, node: number, layer: number, merged: boolean): number {
  const index = plan.index;
  if ((index.flags[node]! & PENDING_ENTRY) === 0) return 0;
  if (merged && index.visibleFrom(node, index.TOP)) {
    index.winnerLayer[node] = layer;
    index.winnerOrdinal[node] = index.pendingOrdinal[node]!;
    index.winnerType[node] = index.pendingType[node]!;
    plan.bytes += index.pendingSize[node]!;
    const directory = plan.pendingDirectories.get(node);
    if (directory) plan.directories.set(node, directory);
    const link = plan.pendingLinks.get(node);
    if (link) plan.links.set(node, link);
  }
  const requests = plan.requests.get(node);
  if (!requests) return 0;
  const waiting = [];
  let member: LayerMember | undefined;
  for (const request of requests) {
    if (request.asOf === layer) waiting.push(request);
    else request.from.link = index.visibleFrom(node, request.asOf) ? (member ??= plan.pendingMember(node, layer)) : 'missing';
  }
  if (waiting.length > 0) plan.requests.set(node, waiting);
  else plan.requests.delete(node);
  return requests.length - waiting.length;
}

/** Records this layer's changes at node, deciding first which whiteouts the merged layer must keep. */
function applyChanges(plan: Planner, node: number, layer: number, keepMarkers: boolean): void {
  const index = plan.index;
  const NONE = index.NONE;
  const flags = index.flags[node]!;
  index.flags[node] = 0;
  const pending = (flags & PENDING_ENTRY) !== 0;
  const hasEntry = pending || index.entryAt[node] !== NONE;
  if ((flags & PENDING_WHITEOUT) !== 0) {
    if (keepMarkers && !plan.markers.has(node) && index.whiteoutAt[node] === NONE && !index.coveredFrom(node, index.TOP)) {
      // Deleted and never re-added: the delete must reach the kept layers. Re-added
      // as a directory: it must not merge with what they hold there.
      const entry = plan.pendingWhiteouts.get(node)!;
      if (!hasEntry) plan.markers.set(node, { kind: 'whiteout', entry });
      else if (index.winnerLayer[node] !== NONE && index.winnerType[node] === DIRECTORY) plan.markers.set(node, { kind: 'opaque', entry });
    }
    index.whiteoutAt[node] = layer;
  }
  if ((flags & PENDING_OPAQUE) !== 0) {
    if (keepMarkers && !plan.markers.has(node) && index.whiteoutAt[node] === NONE && index.nonDirAt[node] === NONE && !index.coveredFrom(node, index.TOP)) {
      plan.markers.set(node, { kind: 'opaque', entry: plan.pendingOpaques.get(node)! });
    }
    index.opaqueAt[node] = layer;
  }
  if (pending) {
    index.entryAt[node] = layer;
    if (index.pendingType[node] !== DIRECTORY) index.nonDirAt[node] = layer;
  }
}

/**
 * Below the merged layers (kept layers remain): a hardlink whose target path
 * the merged layers leave alone stays a link into the kept layers; the
 * others wait for the kept layers to be read for their content. Returns how
 * many wait.
 */
function settleAtKeptLayers(plan: Planner): number {
  const index = plan.index;
  for (const [node, requests] of plan.requests) {
    if (index.entryAt[node] !== index.NONE || index.whiteoutAt[node] !== index.NONE || index.coveredFrom(node, index.TOP)) continue;
    for (const { from } of requests) from.link = 'below';
    plan.open -= requests.length;
    plan.requests.delete(node);
  }
  return plan.open;
}

/** Nothing is left to read: hardlinks still waiting point at nothing. */
function settleMissing(plan: Planner): void {
  for (const requests of plan.requests.values()) {
    for (const { from } of requests) from.link = 'missing';
  }
  plan.requests.clear();
}

/** Where a kept whiteout goes: `.wh.NAME` beside NAME, or DIR/.wh..wh..opq. */
export function markerPath(index: PathIndex, node: number, kind: Marker['kind']): Buffer {
  if (kind === 'opaque') return node === ROOT ? Buffer.from(OPAQUE) : Buffer.concat([index.path(node), Buffer.from('/'), OPAQUE]);
  const path = index.path(node);
  const slash = path.lastIndexOf(SLASH);
  return Buffer.concat([path.subarray(0, slash + 1), WHITEOUT_PREFIX, path.subarray(slash + 1)]);
}

function startsWith(name: Buffer, prefix: Buffer): boolean {
  return name.length >= prefix.length && name.subarray(0, prefix.length).equals(prefix);
}

/** "IMAGE layer N (sha256:…)" for messages. */
export function layerWhere(image: string, index: number, layer: Descriptor): string {
  return `${image} layer ${index + 1} (${layer.digest.slice(0, 19)})`;
}
