/**
 * The index.json annotation that names the layers an archive or layout
 * carries as deltas (docs/formats.md, "Delta layers"): what each rebuilds,
 * from which layer, by which recipe. Written by save, read by load and by a
 * layout's member reader, which reaches the delta blobs through it.
 */
import type { Recipe } from '../compress/index.js';
import { InvalidInputError } from '../errors.js';
import { isDigest } from '../oci/digest.js';
import type { Digest, Index } from '../oci/types.js';

/** index.json annotation: the layers the archive carries as deltas, a JSON document (deltaDocumentVersion). */
export const deltaLayersAnnotation = 'io.rootfs.delta.layers';
export const deltaDocumentVersion = 1;

/** One layer carried as a delta: what to rebuild, from what, and what it must come out as. */
export interface DeltaEntry {
  /** The layer's digest and size in the manifests (what the rebuild must give, byte for byte). */
  layer: Digest;
  size: number;
  /** The sha256 of its tar. */
  diffId: Digest;
  /** The delta blob in the archive. */
  delta: Digest;
  deltaSize: number;
  /** The layer the site holds whose tar the delta patches. */
  reference: { digest: Digest; size: number; diffId: Digest };
  /** How the rebuilt tar is compressed back into the layer's bytes. */
  recipe: Recipe;
}

/** The index with the delta layers named in its annotation (none: the index as it was). */
export function withDeltaLayers(index: Index, entries: DeltaEntry[]): Index {
  if (entries.length === 0) return index;
  const layers = [...entries].sort((a, b) => (a.layer < b.layer ? -1 : a.layer > b.layer ? 1 : 0));
  return { ...index, annotations: { ...index.annotations, [deltaLayersAnnotation]: JSON.stringify({ version: deltaDocumentVersion, layers }) } };
}

/** The delta layers an index.json names, by layer digest, each checked field by field. */
export function deltaLayers(index: Index, where: string): Map<Digest, DeltaEntry> {
  const text = index.annotations?.[deltaLayersAnnotation];
  const found = new Map<Digest, DeltaEntry>();
  if (text === undefined) return found;
  const fail = (detail: string): never => {
    throw new InvalidInputError(where, `annotation ${deltaLayersAnnotation}: ${detail}`);
  };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    fail('not JSON');
  }
  const doc = (typeof document === 'object' && document !== null ? document : fail('not a JSON object')) as Record<string, unknown>;
  if (doc.version !== deltaDocumentVersion) fail(`version ${JSON.stringify(doc.version)} (this rootfs reads version ${deltaDocumentVersion})`);
  if (!Array.isArray(doc.layers)) fail('layers is not an array');
  (doc.layers as unknown[]).forEach((item, i) => {
    const at = `layers[${i}]`;
    const entry = (typeof item === 'object' && item !== null ? item : fail(`${at} is not an object`)) as Record<string, unknown>;
    const digest = (field: string, value: unknown): Digest => (isDigest(value) ? value : fail(`${at}.${field} ${JSON.stringify(value)} is not a sha256 digest`));
    const size = (field: string, value: unknown): number => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fail(`${at}.${field} is not a size`));
    const reference = (typeof entry.reference === 'object' && entry.reference !== null ? entry.reference : fail(`${at}.reference is not an object`)) as Record<string, unknown>;
    const recipe = (typeof entry.recipe === 'object' && entry.recipe !== null ? entry.recipe : fail(`${at}.recipe is not an object`)) as Record<string, unknown>;
    if (recipe.compression !== 'none' && recipe.compression !== 'gzip' && recipe.compression !== 'zstd') fail(`${at}.recipe.compression ${JSON.stringify(recipe.compression)} is not none, gzip or zstd`);
    if (typeof recipe.encoder !== 'string') fail(`${at}.recipe.encoder is not a string`);
    if (recipe.level !== undefined && !Number.isInteger(recipe.level)) fail(`${at}.recipe.level is not an integer`);
    const layer = digest('layer', entry.layer);
    if (found.has(layer)) fail(`${at}: layer ${layer} twice`);
    found.set(layer, {
      layer,
      size: size('size', entry.size),
      diffId: digest('diffId', entry.diffId),
      delta: digest('delta', entry.delta),
      deltaSize: size('deltaSize', entry.deltaSize),
      reference: { digest: digest('reference.digest', reference.digest), size: size('reference.size', reference.size), diffId: digest('reference.diffId', reference.diffId) },
      recipe: { compression: recipe.compression as Recipe['compression'], encoder: recipe.encoder as string, ...(recipe.level !== undefined ? { level: recipe.level as number } : {}) },
    });
  });
  return found;
}
