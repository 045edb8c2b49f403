import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { withStore } from './store-option.js';
import { findImage, resolveEntry } from '../store/resolve.js';

export const tagCommand: CommandModule = (cli, run) => {
  cli
    .command('tag <source> <target>', 'Give an image in the store another name (SOURCE by name, digest, or full or short ID)')
    .example('rootfs tag base:latest registry:5000/ns/base:1.0')
    .example('rootfs tag 3f2a9c1b7d4e base:latest')
    .action((source: string, target: string, opts) =>
      run(async (reporter) => {
        const ref = parseReference(target);
        await withStore(opts, async (store) => {
          // find() chooses no platform: a multi-platform index is tagged whole, whatever this machine is.
          const found = await findImage(store, source);
          const descriptor = found.manifestDescriptor ?? found.descriptor;
          await store.tag(ref, descriptor);
          if (reporter.json) {
            const { manifest } = await resolveEntry(store, found.descriptor, undefined, undefined, found.manifestDescriptor);
            reporter.emitJson({ source, target: familiarName(ref), digest: descriptor.digest, id: manifest.config.digest });
          }
        });
      }, opts),
    );
};
