/**
 * What `inspect` shows of an image: docker's fields (Id, RepoTags,
 * RepoDigests, Created, Config, RootFS…), plus the descriptors, manifest and
 * config the store keeps, so a script written for docker inspect reads it.
 */
import { familiarRepository } from '../oci/reference.js';
import { resolveImage } from './resolve.js';
import type { Store } from './store.js';

/** Images as `inspect` prints them; each of texts resolved as every command resolves a name or ID (this machine's platform). */
export async function inspectImages(store: Store, texts: readonly string[]) {
  const entries = await store.listEntries();
  const out = [];
  for (const text of texts) {
    const image = await resolveImage(store, text);
    const names = entries.filter((entry) => entry.descriptor.digest === image.descriptor.digest && entry.ref !== undefined);
    const { config } = image;
    out.push({
      Id: image.manifest.config.digest,
      RepoTags: names.map((entry) => entry.name!),
      RepoDigests: [...new Set(names.map((entry) => `${familiarRepository(entry.ref!)}@${image.descriptor.digest}`))],
      Parent: '',
      Comment: config.comment ?? '',
      Created: config.created ?? null,
      Author: config.author ?? '',
      Config: config.config ?? {},
      Architecture: config.architecture,
      ...(config.variant !== undefined ? { Variant: config.variant } : {}),
      Os: config.os,
      Size: image.manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
      RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
      Descriptor: image.descriptor,
      ManifestDescriptor: image.manifestDescriptor,
      Manifest: image.manifest,
      ImageConfig: config,
    });
  }
  return out;
}

export type InspectedImage = Awaited<ReturnType<typeof inspectImages>>[number];
