import { parseReference } from '../oci/reference.js';
import { platformFlags } from './options.js';
import { pullImage } from '../registry/pull.js';
import type { CommandModule } from './command.js';
import { addRegistryFlags, registryOptions, registryReference, transferDisplay } from './registry-options.js';
import { withStore } from './store-option.js';
import { count } from '../text.js';
import { admissionHook, admissionPolicy } from './trust-options.js';

export const pullCommand: CommandModule = (cli, run) => {
  addRegistryFlags(
    cli
      .command('pull <source> [name]', 'Pull an image from a registry into the store (NAME default: SOURCE\'s own name)')
      .option('--platform <os/arch[/variant]>', 'From a multi-platform image, the platform to pull (default: this machine\'s)')
      .option('--all-platforms', 'Pull every platform and keep the multi-platform index')
      .option('--no-referrers', 'Leave out the image\'s referrers (signatures, SBOMs: from the referrers API or the sha256-<hex> tag), which come with it by default')
      .option('--require-signed <pub[,pub…]>', 'The image must carry a signature by one of these public keys over its manifest (rootfs sign, cosign sign --key); else nothing is stored (exit 3). The store\'s policy.json can require it too (docs/trust.md)'),
  )
    .example('rootfs pull registry.site:5000/ns/base:1.0')
    .example('rootfs pull registry.site:5000/ns/base@sha256:… base:pinned')
    .example('rootfs pull docker://registry.site:5000/ns/base:1.0 --timeout 60')
    .action((source: string, name: string | undefined, opts) =>
      run(async (reporter) => {
        const src = registryReference(source);
        const target = name === undefined ? undefined : parseReference(name);
        const platforms = platformFlags(opts);
        const result = await withStore(opts, async (store) => {
          const policy = await admissionPolicy(opts, store.dir);
          return pullImage(store, src, target, {
            ...(await registryOptions(opts, src.registry)),
            ...platforms,
            referrers: opts.referrers !== false,
            ...(policy ? { beforeNames: admissionHook(policy, reporter) } : {}),
            onEvent: transferDisplay(reporter, { exists: 'Already exists', copied: 'Pull complete' }),
          });
        });
        reporter.info(`Digest: ${result.descriptor.digest}`);
        if (result.referrers > 0) reporter.info(`${count(result.referrers, 'referrer')} pulled with it`);
        reporter.result(result.tags[0]!);
        reporter.emitJson({ reference: result.tags[0]!, digest: result.descriptor.digest, mediaType: result.descriptor.mediaType, size: result.descriptor.size, referrers: result.referrers });
      }, opts),
    );
};
