/**
 * What `rmi` removes, as docker's rmi: a name removes that name; an image ID
 * removes the image if it has at most one name (all of them with force). An
 * image whose last name went is deleted from index.json, with its referrers;
 * its blobs stay until gc.
 */
import { UsageError } from '../errors.js';
import { familiarName, fullName, parseReference, type ImageReference } from '../oci/reference.js';
import type { Digest } from '../oci/types.js';
import { findImage, resolveEntry } from './resolve.js';
import type { Store } from './store.js';

/** A name to remove (ref), or else the whole image; digest: its index.json entry; id: its image ID (config digest), what docker's `Deleted:` names. */
interface Removal {
  ref?: ImageReference;
  digest: Digest;
  id: Digest;
}

export interface RemovedImages {
  /** The names removed, familiar. */
  untagged: string[];
  /** The image IDs of the images gone from index.json. */
  deleted: Digest[];
}

/** Removes what each of `texts` (a name or an ID) designates; all are resolved before anything is removed. */
export async function removeImages(store: Store, texts: readonly string[], options: { force?: boolean } = {}): Promise<RemovedImages> {
  // Every argument is resolved before anything is removed: a typo in the third must not leave the first two removed.
  const entries = await store.listEntries();
  const plan: Removal[] = [];
  for (const text of texts) {
    const found = await findImage(store, text);
    const digest = found.descriptor.digest;
    const { manifest } = await resolveEntry(store, found.descriptor, undefined, undefined, found.manifestDescriptor).catch(() => ({ manifest: undefined }));
    const id = manifest?.config.digest ?? digest;
    if (found.name !== undefined) {
      plan.push({ ref: parseReference(found.name), digest, id });
      continue;
    }
    const names = entries.filter((entry) => entry.descriptor.digest === digest && entry.name !== undefined).map((entry) => entry.name!);
    if (names.length > 1 && !options.force) throw new UsageError(`${text} is tagged ${names.join(', ')}: remove the tags by name, or all of them with rmi -f`);
    plan.push({ digest, id });
  }
  const untagged: string[] = [];
  const deleted: Digest[] = [];
  const done = new Set<string>();
  for (const removal of plan) {
    if (removal.ref !== undefined) {
      if (!done.has(fullName(removal.ref)) && (await store.untag(removal.ref))) untagged.push(familiarName(removal.ref));
      done.add(fullName(removal.ref));
    } else if (!done.has(removal.digest)) {
      // (the same image given twice, an ID and its short form, is removed once)
      for (const entry of await store.removeImage(removal.digest)) if (entry.name !== undefined) untagged.push(entry.name);
    }
    // As docker: an image whose last name went is deleted (its blobs go at the next gc).
    if (!done.has(removal.digest) && !(await store.listEntries()).some((entry) => entry.descriptor.digest === removal.digest)) {
      done.add(removal.digest);
      deleted.push(removal.id);
    }
  }
  return { untagged, deleted };
}
