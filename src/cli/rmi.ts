import { UsageError } from '../errors.js';
import { familiarName, fullName, parseReference, type ImageReference } from '../oci/reference.js';
import type { Digest } from '../oci/types.js';
import type { CommandModule } from './command.js';
import { withStore } from './store-option.js';

type Removal = { kind: 'name'; ref: ImageReference } | { kind: 'image'; digest: Digest; id: Digest };

export const rmiCommand: CommandModule = (cli, run) => {
  cli
    .command('rmi <...refs>', 'Remove images from the store: a name removes that tag; an ID removes the image if it has at most one name (all of them with -f). Blobs stay until rootfs gc')
    .option('-f, --force', 'An ID with several names removes all of them')
    .example('rootfs rmi base:latest')
    .example('rootfs rmi 0123456789ab')
    .example('rootfs rmi -f $(rootfs images -q)')
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        const force = Boolean(opts.force);
        const { untagged, deleted } = await withStore(opts, async (store) => {
          // Every argument is resolved before anything is removed: a typo in the third must not leave the first two removed.
          const entries = await store.listEntries();
          const plan: Removal[] = [];
          for (const text of refs) {
            const found = await store.find(text);
            if (found.name !== undefined) {
              plan.push({ kind: 'name', ref: parseReference(found.name) });
              continue;
            }
            const digest = found.descriptor.digest;
            const names = entries.filter((entry) => entry.descriptor.digest === digest && entry.name !== undefined).map((entry) => entry.name!);
            if (names.length > 1 && !force) throw new UsageError(`${text} is tagged ${names.join(', ')}: remove the tags by name, or all of them with rmi -f`);
            const { manifest } = await store.resolveEntry(found.descriptor, undefined, undefined, found.manifestDescriptor).catch(() => ({ manifest: undefined }));
            plan.push({ kind: 'image', digest, id: manifest?.config.digest ?? digest });
          }
          const untagged: string[] = [];
          const deleted: Digest[] = [];
          const done = new Set<string>();
          for (const removal of plan) {
            if (removal.kind === 'name') {
              if (!done.has(fullName(removal.ref)) && (await store.untag(removal.ref))) untagged.push(familiarName(removal.ref));
              done.add(fullName(removal.ref));
              continue;
            }
            if (done.has(removal.digest)) continue; // the same image given twice (an ID and its short form)
            done.add(removal.digest);
            const removed = await store.removeImage(removal.digest);
            for (const entry of removed) if (entry.name !== undefined) untagged.push(entry.name);
            if (removed.some((entry) => entry.name === undefined)) deleted.push(removal.id);
          }
          return { untagged, deleted };
        });
        for (const name of untagged) reporter.result(`Untagged: ${name}`);
        for (const id of deleted) reporter.result(`Deleted: ${id}`);
        reporter.emitJson({ untagged, deleted });
      }, opts),
    );
};
