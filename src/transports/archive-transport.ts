/**
 * Archives and layouts as a copy's ends (docker-archive, docker-legacy,
 * oci-archive, oci): load brings images in, save takes them out, and a copy
 * from one to another medium is the one copy from the staged archive.
 */
import { copyImage } from '../engine/copy.js';
import { hostPlatform } from '../oci/platform.js';
import { familiarName } from '../oci/reference.js';
import type { ArchiveAddress, FormatName, RegistryAddress } from './address.js';
import { archivedTags, archiveTag, writeArchive } from './archive-destination.js';
import { oneTextPerImage, type CopyOptions, type CopyResult, type OutOfStore, type IntoStore } from './transport.js';
import { archiveCopyOptions, loadArchive, stageArchive, type StagedArchive } from './load.js';
import { withPrivateStore } from './private-store.js';
import { copyStagedToRegistry } from './registry-transport.js';
import { saveImages } from './save.js';

type ArchiveEnd = ArchiveAddress & { format: FormatName };

export function archiveIntoStore(address: ArchiveEnd): IntoStore {
  return {
    into: (store, target, options) => loadArchive(store, address, { ...options, ...(target ? { tag: target } : {}) }),
  };
}

export function archiveOutOfStore(address: ArchiveEnd): OutOfStore {
  return {
    async from(store, texts, options) {
      // An address with a REF names one image: each image once, under its first name.
      const chosen = address.ref !== undefined ? await oneTextPerImage(store, texts) : texts;
      return saveImages(store, chosen, address.path, { ...options, format: address.format, ...(address.ref !== undefined ? { ref: address.ref } : {}) });
    },
  };
}

/**
 * A copy from an archive or layout into another, or to a registry: the
 * archive staged once in a store of the copy's own (beside the destination
 * file, else in $TMPDIR; removed after), then the one copy of each image
 * straight to the destination. The user's store is never opened.
 */
export function copyFromArchive(from: ArchiveEnd, to: { kind: 'archive'; address: ArchiveEnd } | { kind: 'registry'; address: RegistryAddress }, options: CopyOptions): Promise<CopyResult> {
  const beside = to.kind === 'archive' && to.address.path !== '-' ? to.address.path : undefined;
  return withPrivateStore(beside, async (store) => {
    const staged = await stageArchive(store, from, options);
    try {
      return to.kind === 'archive' ? await copyStagedToArchive(staged, to.address, options) : await copyStagedToRegistry(staged, to.address, options);
    } finally {
      await staged.contents.staging.abort();
    }
  });
}

/** Each image of a staged archive into an archive or layout, under its first name (or the address's REF). */
function copyStagedToArchive(staged: StagedArchive, to: ArchiveEnd, options: CopyOptions): Promise<CopyResult> {
  const docker = to.format === 'docker-archive' || to.format === 'docker-legacy';
  // manifest.json holds one config per image: from an index, this machine's platform unless one is asked for, as save takes it.
  const platform = options.platform ?? (docker ? hostPlatform() : undefined);
  return writeArchive(to.path, options.stdout, { format: to.format, ...(to.ref !== undefined ? { ref: to.ref } : {}) }, async (destination) => {
    const result: CopyResult = { images: [], referrers: 0 };
    for (const image of staged.images) {
      const tag = archiveTag(to.format, to.ref, image.tags[0] && familiarName(image.tags[0]));
      const copied = await copyImage(staged.source, image.top, destination, archiveCopyOptions(staged, image, tag ? [tag] : [], { ...options, ...(platform ? { platform } : {}) }));
      result.images.push({ ...copied, tags: archivedTags(destination) });
      result.referrers += copied.referrers;
    }
    return result;
  });
}
