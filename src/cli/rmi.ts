import { NotFoundError, UsageError } from '../errors.js';
import { familiarName, fullName, parseReference, type ImageReference } from '../oci/reference.js';
import type { CommandModule } from './main.js';
import { withStore } from './store-option.js';

export const rmiCommand: CommandModule = (cli, run) => {
  cli
    .command('rmi <...refs>', 'Remove tags from the store (blobs stay until rootfs gc)')
    .example('rootfs rmi base:latest')
    .example('rootfs rmi 0123456789ab')
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        const untagged = await withStore(opts, async (store) => {
          // Every name is checked before any is removed: a typo in the third argument must not leave the first two untagged.
          const images = await store.listImages();
          const plan: ImageReference[] = [];
          for (const text of refs) {
            const byName = tryParse(text);
            if (byName && images.some((image) => fullName(image.ref) === fullName(byName))) {
              plan.push(byName);
              continue;
            }
            const resolved = await store.resolve(text);
            const names = images.filter((image) => image.descriptor.digest === resolved.descriptor.digest);
            if (names.length === 0) throw new NotFoundError(`${text}: image has no tag to remove`);
            if (names.length > 1) throw new UsageError(`${text} is tagged ${names.map((image) => image.name).join(', ')}: remove the tags by name`);
            plan.push(names[0]!.ref);
          }
          const done: string[] = [];
          for (const ref of plan) if (await store.untag(ref)) done.push(familiarName(ref));
          return done;
        });
        for (const name of untagged) reporter.result(`Untagged: ${name}`);
        reporter.emitJson({ untagged });
      }, opts),
    );
};

function tryParse(text: string): ImageReference | undefined {
  try {
    return parseReference(text);
  } catch {
    return undefined;
  }
}
