import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './main.js';
import { withStore } from './store-option.js';

export const tagCommand: CommandModule = (cli, run) => {
  cli
    .command('tag <source> <target>', 'Give an image in the store another name (SOURCE by name, digest or ID)')
    .example('rootfs tag base:latest registry:5000/ns/base:1.0')
    .action((source: string, target: string, opts) =>
      run(async (reporter) => {
        const ref = parseReference(target);
        const resolved = await withStore(opts, async (store) => {
          const image = await store.resolve(source);
          await store.tag(ref, image.descriptor);
          return image;
        });
        reporter.emitJson({ source, target: familiarName(ref), digest: resolved.descriptor.digest, id: resolved.manifest.config.digest });
      }, opts),
    );
};
