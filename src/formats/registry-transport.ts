/** A registry as a copy's end (docker://): pull brings an image in, push takes images out (recompressed first when asked: a registry takes blobs as they are). */
import { UsageError } from '../errors.js';
import { familiarName } from '../oci/reference.js';
import { pullImage } from '../registry/pull.js';
import { BlobLocations, pushImage } from '../registry/push.js';
import type { RegistryAddress } from './address.js';
import { oneTextPerImage, type CopyResult, type ImageSink, type ImageSource } from './image-transport.js';
import { withConverted, type Conversion } from './private-store.js';
import { planSave } from './registry.js';

export function registrySource(address: RegistryAddress): ImageSource {
  return {
    async into(store, target, options) {
      const reference = address.reference;
      if (!reference) throw new UsageError(`docker://${address.registry} names a registry but no image; copy takes docker://${address.registry}/REPO[:TAG|@DIGEST]`);
      const pulled = await pullImage(store, reference, target, {
        ...(await options.registry(reference.registry)),
        // As load keeps an archive's index whole: every platform unless one is asked for.
        ...(options.platform ? { platform: options.platform } : { allPlatforms: true }),
        untagged: true,
        referrers: options.referrers,
        ...(options.beforeNames ? { beforeNames: options.beforeNames } : {}),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      });
      const named = (target ?? reference).tag !== undefined;
      return { texts: [named ? pulled.reference : pulled.descriptor.digest], images: [{ name: named ? pulled.reference : undefined, digest: pulled.descriptor.digest }], referrers: pulled.referrers };
    },
  };
}

export function registrySink(address: RegistryAddress): ImageSink {
  const sink: ImageSink = {
    async from(store, texts, options) {
      if (options.compression !== 'keep') {
        const { compression, level, platform, onWarning } = options;
        const conversion: Conversion = { compression, ...(level !== undefined ? { level } : {}), ...(platform ? { platform } : {}), ...(onWarning ? { onWarning } : {}) };
        return withConverted(store, await oneTextPerImage(store, texts), conversion, (converted, names) => sink.from(converted, names, { ...options, compression: 'keep' }));
      }
      const plan = await planSave(store, await oneTextPerImage(store, texts), address, options.platform);
      // One map for every push, so later images mount the blobs earlier ones uploaded to another repository.
      const knownLocations = new BlobLocations();
      const result: CopyResult = { images: [], referrers: 0 };
      for (const { source, destination } of plan) {
        const pushed = await pushImage(store, source, destination, { ...(await options.registry(destination.registry)), knownLocations, referrers: options.referrers, ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
        result.images.push({ name: familiarName(destination), digest: pushed.digest });
        result.referrers += pushed.referrers;
      }
      return result;
    },
  };
  return sink;
}
