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
import { layerWhere, planFlatten, type FlattenPlan, type LayerMember, type PathNode, type PlanOptions } from './plan.js';
import { layerMembers } from './source.js';
import type { Descriptor } from '../oci/types.js';

export interface FlatMember {
  entry: TarEntry;
  /** Files only: exactly entry.size bytes, to be read before the next member is asked for. */
  body?: Readable;
}

/** What to write for one member of a layer: under which path, and for a hardlink, pointing where. */
interface Emission {
  path: Buffer;
  linkpath?: Buffer;
}

/** Reads the image's layers twice (index, then content) and yields the merged tree's members. */
export async function* flattenLayers(store: Store, layers: Descriptor[], options: PlanOptions): AsyncGenerator<FlatMember, void, undefined> {
  const plan = await planFlatten(store, layers, options);
  yield* emitPlan(store, plan, options.where);
}

/** The merged tree as one tar stream (the squashed layer, or `rootfs export`). */
export function flattenToTar(store: Store, layers: Descriptor[], options: PlanOptions): TarWriter {
  const writer = new TarWriter();
  void (async () => {
    for await (const { entry, body } of flattenLayers(store, layers, options)) await writer.add(entry, body);
    await writer.finish();
  })().catch((err: Error) => writer.destroy(err));
  return writer;
}

async function* emitPlan(store: Store, plan: FlattenPlan, where: string): AsyncGenerator<FlatMember, void, undefined> {
  const upfront: { sortKey: Buffer; entry: TarEntry }[] = [];
  const emissions: Map<number, Emission>[] = plan.layers.map(() => new Map());
  const emit = (member: LayerMember, emission: Emission): void => {
    emissions[member.layer]!.set(member.ordinal, emission);
  };
  /** Content that lost its own path but is still linked to, by the links that need it. */
  const orphans = new Map<LayerMember, LayerMember[]>();

  const stack: PathNode[] = [plan.root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.children) stack.push(...node.children.values());
    const winner = node.winner;
    if (node.marker && (node.marker.kind === 'whiteout' || !winner || winner.type === 'directory')) {
      upfront.push({ sortKey: node.marker.path, entry: { ...node.marker.entry, path: node.marker.path, type: 'file', size: 0 } });
    }
    if (!winner) continue;
    if (winner.type === 'directory') {
      upfront.push({ sortKey: node.path, entry: { ...winner.entry!, path: directoryName(node.path) } });
    } else if (winner.type !== 'hardlink') {
      emit(winner, { path: node.path });
    } else {
      const { content, linkTarget } = linkedContent(winner, where);
      if (content === undefined) emit(winner, { path: node.path, linkpath: linkTarget });
      else if (content.node.winner === content) emit(winner, { path: node.path, linkpath: content.node.path });
      else orphans.set(content, [...(orphans.get(content) ?? []), winner]);
    }
  }
  for (const [content, links] of orphans) {
    links.sort((a, b) => Buffer.compare(a.node.path, b.node.path));
    const [first, ...rest] = links;
    emit(content, { path: first!.node.path });
    for (const link of rest) emit(link, { path: link.node.path, linkpath: first!.node.path });
  }

  upfront.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  for (const { entry } of upfront) yield { entry };

  for (const [index, wanted] of emissions.entries()) {
    if (wanted.size === 0) continue;
    let ordinal = 0;
    for await (const { entry, body } of layerMembers(store, plan.layers[index]!, layerWhere(where, index, plan.layers[index]!))) {
      const emission = wanted.get(++ordinal);
      if (!emission) continue;
      const out: TarEntry = { ...entry, path: emission.path };
      if (emission.linkpath) out.linkpath = emission.linkpath;
      yield entry.type === 'file' ? { entry: out, body } : { entry: out };
    }
  }
}

/**
 * The member a hardlink's content comes from (following links to links), or
 * undefined when it is in a kept layer below the range, with the path to link to.
 */
function linkedContent(link: LayerMember, where: string): { content?: LayerMember; linkTarget: Buffer } {
  let member = link;
  while (member.type === 'hardlink') {
    const next = member.link;
    if (next === 'below') return { linkTarget: member.linkTarget! };
    if (next === undefined || next === 'missing' || next.type === 'directory') {
      const why = next !== undefined && next !== 'missing' ? 'which is a directory' : 'which is not in this or a lower layer';
      throw new InvalidInputError(`${where}: ${displayPath(member.node.path)}`, `hardlink to '${displayPath(member.linkTarget!)}', ${why}`);
    }
    member = next;
  }
  return { content: member, linkTarget: member.node.path };
}

/** Directories are written with a trailing slash, as docker and GNU tar write them; the root as "./". */
function directoryName(path: Buffer): Buffer {
  return Buffer.concat([path, Buffer.from('/')]);
}
