import { UsageError } from '../errors.js';
import { parseAddress } from '../formats/address.js';
import { loadArchive } from '../formats/load.js';
import { parsePlatform } from '../oci/platform.js';
import { isPartSet, openPartSet } from '../split/index.js';
import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';

export const loadCommand: CommandModule = (cli, run) => {
  cli
    .command('load', 'Load every image and tag of a docker save archive, oci-archive or OCI layout into the store')
    .option('-i, --input <source>', 'FILE or DIR (format detected), FORMAT:PATH[:REF] as skopeo spells it, or - for stdin', { default: '-' })
    .option('--platform <os/arch[/variant]>', 'From a multi-platform index, load only this platform (default: keep the index)')
    .example('rootfs load -i images.tar')
    .example('docker save busybox | gzip | rootfs load')
    .example('rootfs load -i oci-archive:app.tar:app')
    .action((opts) =>
      run(async (reporter) => {
        const address = parseAddress(String(opts.input));
        if (address.path === '-' && process.stdin.isTTY) throw new UsageError('refusing to read an archive from a terminal (use -i FILE or pipe one in)');
        // A directory of parts from `rootfs split` is read as the archive it was cut from, each part verified as it streams.
        const parts = address.format === undefined && address.path !== '-' && (await isPartSet(address.path));
        const started = Date.now();
        const { images: loaded, fromStore } = await withStore(opts, async (store) =>
          loadArchive(store, parts ? { ...address, path: '-' } : address, {
            platform: opts.platform === undefined ? undefined : parsePlatform(String(opts.platform)),
            stream: parts ? { input: await openPartSet(address.path), name: address.path } : { input: process.stdin, name: 'stdin' },
            onProgress: ({ bytes, blobs }) => reporter.progress(() => `loading: ${blobs} blobs, ${formatBytes(bytes)}, ${formatBytes((bytes * 1000) / Math.max(1, Date.now() - started))}/s`),
          }),
        );
        for (const image of loaded) {
          if (image.tags.length === 0) reporter.result(`Loaded image ID: ${image.id}`);
          for (const tag of image.tags) reporter.result(`Loaded image: ${tag}`);
        }
        if (fromStore.layers > 0) reporter.info(`${fromStore.layers} layer${fromStore.layers === 1 ? '' : 's'} (${formatBytes(fromStore.bytes)}) left out of the archive found in the store`);
        reporter.emitJson({ images: loaded.map(({ tags, id, descriptor }) => ({ tags, id, digest: descriptor.digest, mediaType: descriptor.mediaType })), fromStore });
      }, opts),
    );
};
