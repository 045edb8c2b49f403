import { UsageError } from '../errors.js';
import type { CommandModule } from './main.js';
import { addRegistryFlags, pushReported, registryReference, storeName } from './registry-options.js';
import { withStore } from './store-option.js';

export const pushCommand: CommandModule = (cli, run) => {
  addRegistryFlags(
    cli
      .command('push <image> [destination]', 'Push an image from the store to a registry (DESTINATION default: IMAGE\'s own name)')
      .option('--chunk-size <size>', 'Upload big blobs in chunks of this size (k, M, G suffixes; default 32M); a lost connection costs at most one chunk'),
  )
    .example('rootfs push base:latest registry.site:5000/ns/base:1.0')
    .example('rootfs push registry.site:5000/ns/base:1.0 --tls-verify=false')
    .action((image: string, destination: string | undefined, opts) =>
      run(async (reporter) => {
        const dest = registryReference(destination ?? image);
        const chunkSize = opts.chunkSize === undefined ? undefined : parseSize(String(opts.chunkSize));
        const result = await withStore(opts, (store) => pushReported(reporter, store, storeName(image), dest, opts, chunkSize !== undefined ? { chunkSize } : {}));
        reporter.emitJson(result);
      }, opts),
    );
};

/** "4M", "512k", "1048576": bytes, binary multiples. */
function parseSize(text: string): number {
  const match = /^(\d+)([kKmMgG]?)$/.exec(text);
  const size = match ? Number(match[1]) * 1024 ** ' kmg'.indexOf((match[2] || ' ').toLowerCase()) : NaN;
  if (!Number.isSafeInteger(size) || size < 1024) throw new UsageError(`--chunk-size must be a size of at least 1k such as 4M or 512k, not '${text}'`);
  return size;
}
