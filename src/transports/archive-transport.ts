/** Archives and layouts as a copy's ends (docker-archive, docker-legacy, oci-archive, oci): load brings images in, save takes them out. */
import type { ArchiveAddress, FormatName } from './address.js';
import { oneTextPerImage, type OutOfStore, type IntoStore } from './transport.js';
import { loadArchive } from './load.js';
import { saveImages } from './save.js';

export function archiveIntoStore(address: ArchiveAddress & { format: FormatName }): IntoStore {
  return {
    async into(store, target, options) {
      const { images, referrers } = await loadArchive(store, address, {
        ...(options.platform ? { platform: options.platform } : {}),
        ...(target ? { tag: target } : {}),
        stream: options.stdin,
        referrers: options.referrers,
        ...(options.beforeNames ? { beforeNames: options.beforeNames } : {}),
        ...(options.partSet ? { partSet: options.partSet } : {}),
        // A copy has one channel for what it says on the way: a mislabelled layer goes there too.
        ...(options.onWarning ? { onWarning: options.onWarning, onNotice: options.onWarning } : {}),
      });
      const texts = images.flatMap((image) => (image.tags.length > 0 ? image.tags : [image.descriptor.digest]));
      return { texts, images: images.map((image) => ({ name: image.tags[0], digest: image.descriptor.digest })), referrers };
    },
  };
}

export function archiveOutOfStore(address: ArchiveAddress & { format: FormatName }): OutOfStore {
  return {
    // A private store beside the output: its blobs are renamed from there into a layout.
    ...(address.path !== '-' ? { output: address.path } : {}),
    async from(store, texts, options) {
      // An address with a REF names one image: each image once, under its first name.
      const chosen = address.ref !== undefined ? await oneTextPerImage(store, texts) : texts;
      const saved = await saveImages(store, chosen, address.path, {
        format: address.format,
        compression: options.compression,
        ...(options.level !== undefined ? { level: options.level } : {}),
        ...(options.platform ? { platform: options.platform } : {}),
        ref: address.ref,
        stdout: options.stdout,
        referrers: options.referrers,
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
      });
      return { images: saved.images.map((image) => ({ name: image.name, digest: image.descriptor.digest })), referrers: saved.referrers };
    },
  };
}
