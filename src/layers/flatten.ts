/**
 * Pass 2 of flattening: from the plan, the merged tree's members in a
 * deterministic order. Directories (and any whiteouts kept for the layers
 * below) come first, sorted, so every parent precedes its children; then the
 * layers are read again base first and each winning member is passed on
 * with its body as it streams by. A layer with nothing to give is not read
 * again. Hardlinks come after the member they point to: a link is never
 * above its target, and a link whose target was replaced or deleted above
 * it gets the target's old content under its own name (further links to
 * that content point at it).
 */
import type { Readable } from 'node:stream';
import { displayPath, InvalidInputError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { TarEntry } from '../tar/header.js';
import { TarWriter } from '../tar/writer.js';
import { ENTRY_TYPES, layerWhere, markerPath, planFlatten, type FlattenPlan, type LayerMember, type PathIndex, type PlanOptions } from './plan.js';
import { layerMembers } from './source.js';
import type { Descriptor } from '../oci/types.js';

export interface FlatMember {
  entry: TarEntry;
  /** Files only: exactly entry.size bytes, to be read before the next member is asked for. */
  body?: Readable;
}

const DIRECTORY = ENTRY_TYPES.indexOf('directory');
const HARDLINK = ENTRY_TYPES.indexOf('hardlink');
/** An emission's link: none (the member's own linkpath, if any), or ≥ 0 the path of that node, or ≤ -2 a target below the range read. */
const NO_LINK = -1;

/**
 * What to write for the members of one layer: for each wanted ordinal, the
 * node whose path it takes and how it links. Three numbers per member, no
 * object; sorted by ordinal once, then walked as the layer streams by.
 */
class Emissions {
  length = 0;
  ordinals: Int32Array = new Int32Array(64);
  nodes: Int32Array = new Int32Array(64);
  links: Int32Array = new Int32Array(64);

  push(ordinal: number, node: number, link: number): void {
    if (this.length === this.ordinals.length) {
      const grow = (from: Int32Array): Int32Array => {
        const array = new Int32Array(from.length * 2);
        array.set(from);
        return array;
      };
      this.ordinals = grow(this.ordinals);
      this.nodes = grow(this.nodes);
      this.links = grow(this.links);
    }
    this.ordinals[this.length] = ordinal;
    this.nodes[this.length] = node;
    this.links[this.length++] = link;
  }

  /** Sorts by ordinal (stable: of two emissions for one member, the later is the one that counts). */
  sort(): void {
    const order = new Int32Array(this.length);
    for (let i = 0; i < this.length; i++) order[i] = i;
    const ordinals = this.ordinals;
    order.sort((a, b) => ordinals[a]! - ordinals[b]! || a - b);
    const pick = (from: Int32Array): Int32Array => order.map((i) => from[i]!);
    this.ordinals = pick(this.ordinals);
    this.nodes = pick(this.nodes);
    this.links = pick(this.links);
  }
}

/** Reads the image's layers twice (index, then content) and yields the merged tree's members. */
export async function* flattenLayers(store: Store, layers: Descriptor[], options: PlanOptions): AsyncGenerator<FlatMember, void, undefined> {
  const plan = await planFlatten(store, layers, options);
  yield* emitPlan(store, plan, options.where);
}

export interface FlattenOptions extends PlanOptions {
  /** After each entry written: entries so far, and bytes of file data so far. */
  onEntry?: (entries: number, bytes: number) => void;
}

/** The merged tree as one tar stream (the squashed layer, or `rootfs export`). */
export function flattenToTar(store: Store, layers: Descriptor[], options: FlattenOptions): TarWriter {
  const writer = new TarWriter();
  let entries = 0;
  let bytes = 0;
  void (async () => {
    for await (const { entry, body } of flattenLayers(store, layers, options)) {
      await writer.add(entry, body);
      bytes += entry.type === 'file' ? entry.size : 0;
      options.onEntry?.(++entries, bytes);
    }
    await writer.finish();
  })().catch((err: Error) => writer.destroy(err));
  return writer;
}

async function* emitPlan(store: Store, plan: FlattenPlan, where: string): AsyncGenerator<FlatMember, void, undefined> {
  const index = plan.index;
  const NONE = index.NONE;
  const upfront: { sortKey: Buffer; node: number; marker: boolean }[] = [];
  const emissions: (Emissions | undefined)[] = plan.layers.map(() => undefined);
  const emit = (layer: number, ordinal: number, node: number, link: number): void => {
    (emissions[layer] ??= new Emissions()).push(ordinal, node, link);
  };
  /** Link targets below the range read (links to them are `-2 - i`). */
  const below: Buffer[] = [];
  /** Content that lost its own path but is still linked to (by layer and ordinal), with the nodes of the links that need it. */
  const orphans = new Map<number, { content: LayerMember; links: number[] }>();

  for (let node = 0; node < index.count; node++) {
    const won = index.winnerLayer[node] !== NONE;
    const type = index.winnerType[node]!;
    const marker = plan.markers.get(node);
    if (marker && (marker.kind === 'whiteout' || !won || type === DIRECTORY)) {
      upfront.push({ sortKey: markerPath(index, node, marker.kind), node, marker: true });
    }
    if (!won) continue;
    if (type === DIRECTORY) {
      upfront.push({ sortKey: index.path(node), node, marker: false });
    } else if (type !== HARDLINK) {
      emit(index.winnerLayer[node]!, index.winnerOrdinal[node]!, node, NO_LINK);
    } else {
      const winner = plan.links.get(node)!;
      const { content, linkTarget } = linkedContent(index, winner, where);
      if (content === undefined) emit(winner.layer, winner.ordinal, node, -2 - (below.push(linkTarget) - 1));
      else if (index.winnerLayer[content.node] === content.layer && index.winnerOrdinal[content.node] === content.ordinal) {
        emit(winner.layer, winner.ordinal, node, content.node);
      } else {
        const key = content.layer * 2 ** 32 + content.ordinal;
        const orphan = orphans.get(key);
        if (orphan) orphan.links.push(node);
        else orphans.set(key, { content, links: [node] });
      }
    }
  }
  for (const { content, links } of orphans.values()) {
    const paths = new Map(links.map((node) => [node, index.path(node)]));
    links.sort((a, b) => Buffer.compare(paths.get(a)!, paths.get(b)!));
    const [first, ...rest] = links;
    emit(content.layer, content.ordinal, first!, NO_LINK);
    for (const link of rest) emit(index.winnerLayer[link]!, index.winnerOrdinal[link]!, link, first!);
  }
  orphans.clear();
  plan.links.clear();

  upfront.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  for (const { sortKey, node, marker } of upfront) {
    if (marker) yield { entry: { ...plan.markers.get(node)!.entry, path: sortKey, type: 'file', size: 0 } };
    else yield { entry: { ...plan.directories.get(node)!, path: directoryName(sortKey) } };
  }
  upfront.length = 0;
  plan.directories.clear();
  plan.markers.clear();
  // From here on a node is only a name: what decided the merge is dropped.
  index.release();

  for (const [layer, wanted] of emissions.entries()) {
    if (!wanted) continue;
    emissions[layer] = undefined;
    wanted.sort();
    const { ordinals, nodes, links, length } = wanted;
    let next = 0;
    let ordinal = 0;
    for await (const { entry, body } of layerMembers(store, plan.layers[layer]!, layerWhere(where, layer, plan.layers[layer]!))) {
      ordinal++;
      if (next === length || ordinals[next] !== ordinal) continue;
      while (next + 1 < length && ordinals[next + 1] === ordinal) next++;
      const link = links[next]!;
      const out: TarEntry = { ...entry, path: index.path(nodes[next]!) };
      if (link !== NO_LINK) out.linkpath = link >= 0 ? index.path(link) : below[-2 - link]!;
      next++;
      yield entry.type === 'file' ? { entry: out, body } : { entry: out };
    }
  }
}

/**
 * The member a hardlink's content comes from (following links to links), or
 * undefined when it is in a kept layer below the range, with the path to link to.
 */
function linkedContent(index: PathIndex, link: LayerMember, where: string): { content?: LayerMember; linkTarget: Buffer } {
  let member = link;
  while (member.type === 'hardlink') {
    const next = member.link;
    if (next === 'below') return { linkTarget: member.linkTarget! };
    if (next === undefined || next === 'missing' || next.type === 'directory') {
      const why = next !== undefined && next !== 'missing' ? 'which is a directory' : 'which is not in this or a lower layer';
      throw new InvalidInputError(`${where}: ${displayPath(index.path(member.node))}`, `hardlink to '${displayPath(member.linkTarget!)}', ${why}`);
    }
    member = next;
  }
  return { content: member, linkTarget: EMPTY_PATH };
}

const EMPTY_PATH = Buffer.alloc(0);

/** Directories are written with a trailing slash, as docker and GNU tar write them; the root as "./". */
function directoryName(path: Buffer): Buffer {
  return Buffer.concat([path, Buffer.from('/')]);
}
