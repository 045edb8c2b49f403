/**
 * Delta transfer for hosts that share no network: `save --exclude-have` /
 * `--since` leave out the layer blobs the receiving store already holds, and
 * `load` takes them from its own store instead, read and checked like
 * members of the archive. The archive names what it left out on purpose in an
 * index.json annotation, so that a loader can tell a layer left out from a
 * platform never pulled (which an index may list without carrying): a layer
 * left out must be found in the store, or the load is refused.
 */
import { InvalidInputError } from '../errors.js';
import { isDigest } from '../oci/digest.js';
import type { Digest, Index } from '../oci/types.js';
import type { ArchiveContents } from './contents.js';
import { blobMemberName } from '../oci/layout.js';

/** index.json annotation: the layer digests a delta save left out, comma-separated, sorted. */
export const omittedLayersAnnotation = 'io.rootfs.delta.omitted-layers';

/** The index with the omitted layers added to those it already names (saving into an existing layout). */
export function withOmittedLayers(index: Index, omitted: Iterable<Digest>, where: string): Index {
  const all = new Set([...omittedLayers(index, where), ...omitted]);
  if (all.size === 0) return index;
  return { ...index, annotations: { ...index.annotations, [omittedLayersAnnotation]: [...all].sort().join(',') } };
}

/** The layers an index.json says were left out on purpose. */
export function omittedLayers(index: Index, where: string): Set<Digest> {
  const text = index.annotations?.[omittedLayersAnnotation];
  if (text === undefined) return new Set();
  return new Set(
    text.split(',').map((item) => {
      if (!isDigest(item)) throw new InvalidInputError(where, `annotation ${omittedLayersAnnotation}: ${JSON.stringify(item)} is not a sha256 digest`);
      return item;
    }),
  );
}

/**
 * Layers that the archive's manifests name but the archive does not carry:
 * candidates to take from the store. Every JSON blob with a `layers` list
 * counts; the format reader decides later which manifests matter.
 */
export function absentLayers(contents: ArchiveContents): Digest[] {
  const absent = new Set<Digest>();
  for (const member of contents.members.values()) {
    if (member.kind !== 'blob' || !member.looksLikeJson) continue;
    const bytes = contents.bytes(member.name, member.name);
    let document: unknown;
    try {
      document = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue; // not a manifest; the format reader reports it if anything refers to it
    }
    const layers = (document as { layers?: unknown } | null)?.layers;
    if (!Array.isArray(layers)) continue;
    for (const layer of layers as Array<{ digest?: unknown } | null>) {
      const digest = layer?.digest;
      if (isDigest(digest) && !contents.has(blobMemberName(digest))) absent.add(digest);
    }
  }
  return [...absent].sort();
}
