import type { CommandModule } from './main.js';
import { withStoreReadOnly } from './store-option.js';

export const inspectCommand: CommandModule = (cli, run) => {
  cli
    .command('inspect <...refs>', 'Show images as JSON: docker-style summary, descriptor, manifest and config')
    .example('rootfs inspect base:latest')
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        const documents = await withStoreReadOnly(opts, async (store) => {
          const images = await store.listImages();
          const out = [];
          for (const text of refs) {
            const image = await store.resolve(text);
            out.push({
              Id: image.manifest.config.digest,
              RepoTags: images.filter((named) => named.descriptor.digest === image.descriptor.digest).map((named) => named.name),
              Created: image.config.created ?? null,
              Architecture: image.config.architecture,
              ...(image.config.variant !== undefined ? { Variant: image.config.variant } : {}),
              Os: image.config.os,
              Size: image.manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
              Descriptor: image.descriptor,
              ManifestDescriptor: image.manifestDescriptor,
              Manifest: image.manifest,
              Config: image.config,
            });
          }
          return out;
        });
        // inspect prints JSON with or without --json, as docker inspect does.
        if (reporter.json) reporter.emitJson(documents);
        else reporter.result(JSON.stringify(documents, null, 2));
      }, opts),
    );
};
