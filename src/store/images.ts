/**
 * What `images` lists: the store's images, filtered as docker's --filter and
 * REFERENCE filter them, newest first. An entry whose documents cannot be
 * read is left out and named through onWarning, so one damaged image does
 * not hide the others.
 */
import picomatch from 'picomatch';
import { RootfsError, UsageError } from '../errors.js';
import { familiarRepository } from '../oci/reference.js';
import type { Digest } from '../oci/types.js';
import { resolveEntry } from './resolve.js';
import type { Store, StoreEntry } from './store.js';

/** One name of an image (or the image, untagged, as `<none>`). */
export interface ImageRow {
  repository: string;
  tag: string;
  name: string | null;
  /** The image ID: its config's digest. */
  id: Digest;
  /** The index.json entry's digest. */
  digest: Digest;
  created: string | null;
  /** The sum of its layers' (compressed) sizes. */
  size: number;
}

/** Which entries are listed: imageFilter's test. */
export type ImageFilter = (entry: StoreEntry) => boolean;

export interface ListImagesOptions {
  /** Default: every image. */
  filter?: ImageFilter;
  onWarning?: (message: string) => void;
}

/** The rows `images` shows: one per name, newest first, then by name. */
export async function listImages(store: Store, options: ListImagesOptions = {}): Promise<ImageRow[]> {
  const keep = options.filter ?? (() => true);
  const rows: ImageRow[] = [];
  for (const entry of await store.listEntries()) {
    if (!keep(entry)) continue;
    try {
      const resolved = await resolveEntry(store, entry.descriptor);
      rows.push({
        repository: entry.ref ? familiarRepository(entry.ref) : '<none>',
        tag: entry.ref?.tag ?? '<none>',
        name: entry.name ?? null,
        id: resolved.manifest.config.digest,
        digest: entry.descriptor.digest,
        created: resolved.config.created ?? null,
        size: resolved.manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
      });
    } catch (err) {
      if (!(err instanceof RootfsError)) throw err;
      options.onWarning?.(`${entry.name ?? entry.descriptor.digest}: ${err.message}`);
    }
  }
  return rows.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || (a.name ?? '').localeCompare(b.name ?? ''));
}

/**
 * docker's KEY=VALUE filters (dangling=true|false, reference=PATTERN; a
 * REFERENCE argument is reference=REFERENCE) as docker applies them: every
 * kind must hold, any of the values of one kind. Parsed apart from the
 * listing so that a bad filter is refused before the store is opened.
 */
export function imageFilter(filters: readonly string[]): ImageFilter {
  const references: Array<(name: string) => boolean> = [];
  let dangling: boolean | undefined;
  for (const filter of filters) {
    const [key, value] = [filter.slice(0, filter.indexOf('=')), filter.slice(filter.indexOf('=') + 1)];
    if (!filter.includes('=') || value === '') throw new UsageError(`--filter ${JSON.stringify(filter)}: expected KEY=VALUE, such as dangling=true or reference=base*`);
    if (key === 'dangling') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`--filter dangling takes true or false, not ${JSON.stringify(value)}`);
      dangling = value === 'true';
    } else if (key === 'reference') {
      references.push(picomatch(value, { dot: true }));
    } else {
      throw new UsageError(`--filter ${JSON.stringify(key)} is not a filter images knows (dangling=true|false, reference=PATTERN)`);
    }
  }
  return (entry) => {
    if (dangling !== undefined && (entry.ref === undefined) !== dangling) return false;
    if (references.length === 0) return true;
    if (!entry.ref || entry.name === undefined) return false;
    // As docker's reference filter: the pattern may name the repository alone or repository:tag.
    const repository = familiarRepository(entry.ref);
    return references.some((matches) => matches(entry.name!) || matches(repository));
  };
}
