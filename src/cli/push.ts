import type { CommandModule } from './command.js';
import { addRegistryFlags, pushReported, registryReference, storeReference } from './registry-options.js';
import { parseSize, sizeSyntax } from './size.js';
import { withStoreReadOnly } from './store-option.js';

export const pushCommand: CommandModule = (cli, run) => {
  addRegistryFlags(
    cli
      .command('push <image> [destination]', 'Push an image from the store to a registry (DESTINATION default: IMAGE\'s own name)')
      .option('--chunk-size <size>', `Upload big blobs in chunks of this size, at least 1KiB (${sizeSyntax}; default 32M); a lost connection costs at most one chunk`)
      .option('--no-referrers', 'Push the image alone, without its referrers (signatures, SBOMs) and cosign sha256-<hex>.sig/.att/.sbom images, which go with it by default'),
  )
    .example('rootfs push base:latest registry.site:5000/ns/base:1.0')
    .example('rootfs push registry.site:5000/ns/base:1.0 --tls-verify=false')
    .action((image: string, destination: string | undefined, opts) =>
      run(async (reporter) => {
        const dest = registryReference(destination ?? image);
        const chunkSize = opts.chunkSize === undefined ? undefined : parseSize(String(opts.chunkSize), '--chunk-size', { min: 1024 });
        const result = await withStoreReadOnly(opts, (store) => pushReported(reporter, store, storeReference(image), dest, opts, { ...(chunkSize !== undefined ? { chunkSize } : {}), referrers: opts.referrers !== false }));
        reporter.emitJson(result);
      }, opts),
    );
};
