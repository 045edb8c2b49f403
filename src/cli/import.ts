import { statSync } from 'node:fs';
import { ExitCode, UsageError } from '../errors.js';
import { importDirectory, importTarball, type ImportedImage, type ImportOptions } from '../image/import.js';
import { parsePlatform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './main.js';
import { addPackFlags, packEvents, packFlagsGiven, packOptions } from './pack-options.js';
import { formatBytes } from './report.js';
import { openStore } from './store-option.js';
import { addLayerCompressionFlags, asList, layerCompression, sourceDateEpoch } from './options.js';
import { openInput } from '../io/input.js';

export const importCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('import <file> [ref]', 'Create a single-layer image from a root filesystem tarball (plain, gzip, zstd, xz or bzip2; - for stdin) or a directory (packed as rootfs pack packs it; exit 1: completed with warnings)')
    .option('-c, --change <instruction>', 'Apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)')
    .option('-m, --message <text>', 'History comment for the image')
    .option('--platform <os/arch[/variant]>', 'Platform recorded in the image (default: this machine)');
  addPackFlags(addLayerCompressionFlags(command))
    .example('rootfs pack / | rootfs import - base:latest')
    .example('rootfs import / host:latest --preset debian')
    .example("rootfs import root.tar.gz app:1.0 -c 'CMD [\"/bin/bash\"]' -c 'ENV LANG=C.UTF-8'")
    .action((file: string, ref: string | undefined, opts) =>
      run(async (reporter) => {
        const { compression, level } = layerCompression(opts, reporter);
        const tags = ref === undefined ? [] : [parseReference(ref)];
        const options: ImportOptions = {
          source: file,
          tags,
          changes: asList(opts.change),
          message: opts.message === undefined ? undefined : String(opts.message),
          platform: opts.platform === undefined ? undefined : parsePlatform(String(opts.platform)),
          compression,
          level,
          created: sourceDateEpoch(),
        };
        const report = (result: ImportedImage, entries: number, inputCompression: string): void => {
          reporter.result(result.imageId);
          reporter.info(`${entries} entries, layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
          reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest, layer: result.layer, diffId: result.diffId, entries, inputCompression });
        };
        const directory = isDirectory(file);
        if (!directory && packFlagsGiven(opts)) throw new UsageError(`${file} is not a directory: --exclude, --preset and the other pack flags apply to a directory`);
        if (directory) {
          const pack = packOptions(opts);
          const store = await openStore(opts);
          try {
            const result = await importDirectory(store, file, options, pack, packEvents(reporter));
            const entries = Object.values(result.pack.entries).reduce((a, b) => a + b, 0);
            report(result, entries, 'directory');
            return result.pack.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
          } finally {
            await store.close();
          }
        }
        const { stream: input } = await openInput(file, 'a tarball', 'rootfs import packs a directory it is given');
        const store = await openStore(opts);
        try {
          const started = Date.now();
          const result = await importTarball(store, input, {
            ...options,
            onProgress: (bytes, entries) =>
              reporter.progress(() => `importing ${file === '-' ? 'stdin' : file}: ${entries} entries, ${formatBytes(bytes)} read, ${formatBytes((bytes * 1000) / Math.max(1, Date.now() - started))}/s`),
          });
          report(result, result.entries, result.inputCompression);
        } finally {
          await store.close();
        }
        return ExitCode.Ok;
      }, opts),
    );
};

/** A directory argument is packed; anything else (or an error, which openInput reports) is read as a tarball. */
function isDirectory(file: string): boolean {
  if (file === '-') return false;
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}
