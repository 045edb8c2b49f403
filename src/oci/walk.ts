/**
 * The one walk of an image graph: from some roots (index.json's entries, an
 * image's descriptor), each descriptor once, every index or manifest before
 * the descriptors it names (so a reader of a layout sees a document before
 * its blobs). The caller says how a document is read and which children to
 * follow (all of them, or one platform's); the walk keeps to maxIndexDepth.
 */
import { InvalidInputError } from '../errors.js';
import { documentCaps } from '../io/metadata.js';
import { isDigest } from './digest.js';
import { maxIndexDepth } from './layout.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type Index, type Manifest } from './types.js';
import { descriptorsIn, parseIndex, parseJson, parseManifest } from './validate.js';

export type GraphDocument = { kind: 'index'; index: Index } | { kind: 'manifest'; manifest: Manifest } | { kind: 'other'; value: unknown };

export interface GraphNode {
  descriptor: Descriptor;
  /** 0 for a root. */
  depth: number;
  /** The bytes read, for an index, a manifest, or another blob read as JSON (readUnknown); undefined for a leaf or a blob not there. */
  bytes?: Buffer;
  document?: GraphDocument;
}

export interface WalkOptions {
  /** A document's bytes (verified against the descriptor), or undefined when the blob is absent (a layout MAY omit blobs; the caller reports what it needs). */
  read(descriptor: Descriptor): Promise<Buffer | undefined>;
  /** Where a descriptor's blob is, for messages. */
  where(descriptor: Descriptor): string;
  /**
   * What to do with a manifest or index that is not one: 'throw' (the
   * default) stops the walk with the error; 'leaf' yields it unread, for
   * readers that report damage themselves, naming the member.
   */
  invalid?: 'throw' | 'leaf';
  /** Blobs of media types that are neither layers nor configs, up to this size, are read as JSON and the descriptors in them followed (gc keeps an artifact's blobs). */
  readUnknownUpTo?: number;
  /** The children to follow of a document (default: all it names): resolve follows one platform. */
  children?: (node: GraphNode, all: Descriptor[]) => Descriptor[] | Promise<Descriptor[]>;
  /** Leaves (layers, configs) are read by nobody: a media type for which this says true is not read. */
  isLeaf?: (descriptor: Descriptor) => boolean;
}

export async function* walkImage(roots: Iterable<Descriptor>, options: WalkOptions): AsyncGenerator<GraphNode> {
  const seen = new Set<string>();
  const queue: Array<{ descriptor: Descriptor; depth: number }> = [...roots].map((descriptor) => ({ descriptor, depth: 0 }));
  for (let at = 0; at < queue.length; at++) {
    const { descriptor, depth } = queue[at]!;
    // A queue that only grows would hold every blob of the store: what has been walked is let go.
    if (at >= 1024) {
      queue.splice(0, at);
      at = 0;
    }
    if (!isDigest(descriptor?.digest) || seen.has(descriptor.digest)) continue;
    seen.add(descriptor.digest);
    const node = await readNode(descriptor, depth, options);
    yield node;
    if (!node.document) continue;
    if (node.document.kind === 'index' && depth >= maxIndexDepth) {
      if ((options.invalid ?? 'throw') === 'throw') throw new InvalidInputError(options.where(descriptor), `indexes nested more than ${maxIndexDepth} deep`);
      continue;
    }
    const all = childrenOf(node.document);
    for (const child of options.children ? await options.children(node, all) : all) queue.push({ descriptor: child, depth: depth + 1 });
  }
}

async function readNode(descriptor: Descriptor, depth: number, options: WalkOptions): Promise<GraphNode> {
  const known = isManifestMediaType(descriptor.mediaType) || isIndexMediaType(descriptor.mediaType);
  const unknownJson = !known && !(options.isLeaf?.(descriptor) ?? false) && options.readUnknownUpTo !== undefined && descriptor.size <= options.readUnknownUpTo;
  if (!known && !unknownJson) return { descriptor, depth };
  // Every reader of a manifest or index walks here (layout, store, gc): one cap for all, before a byte is read. Refused
  // in 'leaf' mode too: no later reader could read it either.
  if (known && descriptor.size > documentCaps.image) {
    throw new InvalidInputError(options.where(descriptor), `${descriptor.size} bytes is too large for an image manifest or index (at most ${documentCaps.image})`);
  }
  const bytes = await options.read(descriptor);
  if (!bytes) return { descriptor, depth };
  const where = options.where(descriptor);
  try {
    const value = parseJson(bytes.toString('utf8'), where);
    if (!known) return { descriptor, depth, bytes, document: { kind: 'other', value } };
    const document: GraphDocument = isIndexMediaType(descriptor.mediaType) ? { kind: 'index', index: parseIndex(value, where) } : { kind: 'manifest', manifest: parseManifest(value, where) };
    return { descriptor, depth, bytes, document };
  } catch (err) {
    // An unknown blob that is not JSON is a leaf; a manifest that is not one is damage.
    if (!known || options.invalid === 'leaf') return { descriptor, depth, bytes };
    throw err;
  }
}

/** The descriptors a document names: an index's manifests, a manifest's config and layers, any descriptor-shaped JSON in another blob. Not `subject`: that points up. */
export function childrenOf(document: GraphDocument): Descriptor[] {
  switch (document.kind) {
    case 'index':
      return document.index.manifests;
    case 'manifest':
      return [document.manifest.config, ...document.manifest.layers];
    case 'other':
      return descriptorsIn(document.value);
  }
}

/**
 * The documents of a walk (its nodes, in the order walkImage gave them)
 * with every document after the documents it names that the walk reached:
 * the order a registry takes an index in (it refuses one whose children it
 * lacks), and the order a writer that rewrites a parent from its children's
 * new digests needs. A child two parents name comes before both; from each
 * root in turn, depth first, children in the order their parent lists them.
 */
export function childrenFirst(nodes: GraphNode[]): GraphNode[] {
  const byDigest = new Map(nodes.map((node) => [node.descriptor.digest, node]));
  const reached = (node: GraphNode): GraphNode[] => (node.document ? childrenOf(node.document).flatMap((child) => byDigest.get(child?.digest) ?? []) : []);
  const out: GraphNode[] = [];
  const entered = new Set<string>();
  for (const root of nodes) {
    if (entered.has(root.descriptor.digest)) continue;
    entered.add(root.descriptor.digest);
    // A stack, not recursion: a graph as wide or deep as a store holds does not reach the call stack's limit.
    const stack = [{ node: root, children: reached(root), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.children[top.next++];
      if (child === undefined) {
        out.push(top.node);
        stack.pop();
      } else if (!entered.has(child.descriptor.digest)) {
        entered.add(child.descriptor.digest);
        stack.push({ node: child, children: reached(child), next: 0 });
      }
    }
  }
  return out;
}
