import { importTarball } from '../image/import.js';
import { parsePlatform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { openStore } from './store-option.js';
import { addLayerCompressionFlags, asList, layerCompression, sourceDateEpoch } from './options.js';
import { openInput } from '../io/input.js';

export const importCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('import <file> [ref]', 'Create a single-layer image from a root filesystem tarball (plain, gzip, zstd, xz or bzip2; - for stdin)')
    .option('-c, --change <instruction>', 'Apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)')
    .option('-m, --message <text>', 'History comment for the image')
    .option('--platform <os/arch[/variant]>', 'Platform recorded in the image (default: this machine)');
  addLayerCompressionFlags(command)
    .example('rootfs pack / | rootfs import - base:latest')
    .example("rootfs import root.tar.gz app:1.0 -c 'CMD [\"/bin/bash\"]' -c 'ENV LANG=C.UTF-8'")
    .action((file: string, ref: string | undefined, opts) =>
      run(async (reporter) => {
        const { compression, level } = layerCompression(opts, reporter);
        const tags = ref === undefined ? [] : [parseReference(ref)];
        const { stream: input } = await openInput(file, 'a tarball', `to import a directory: rootfs pack ${file} | rootfs import - REF`);
        const store = await openStore(opts);
        try {
          const started = Date.now();
          const result = await importTarball(store, input, {
            source: file,
            tags,
            changes: asList(opts.change),
            message: opts.message === undefined ? undefined : String(opts.message),
            platform: opts.platform === undefined ? undefined : parsePlatform(String(opts.platform)),
            compression,
            level,
            created: sourceDateEpoch(),
            onProgress: (bytes, entries) =>
              reporter.progress(() => `importing ${file === '-' ? 'stdin' : file}: ${entries} entries, ${formatBytes(bytes)} read, ${formatBytes((bytes * 1000) / Math.max(1, Date.now() - started))}/s`),
          });
          reporter.result(result.imageId);
          reporter.info(`${result.entries} entries, layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
          reporter.emitJson({
            id: result.imageId,
            tags: tags.map(familiarName),
            manifest: result.manifest,
            layer: result.layer,
            diffId: result.diffId,
            entries: result.entries,
            inputCompression: result.inputCompression,
          });
        } finally {
          await store.close();
        }
      }, opts),
    );
};
