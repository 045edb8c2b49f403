import { UsageError } from '../errors.js';
import { importTarball } from '../image/import.js';
import { parsePlatform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { openStore } from './store-option.js';
import { addLayerCompressionFlags, asList, layerCompression, sourceDateEpoch } from './options.js';
import { openInput } from '../io/input.js';
import { count } from '../text.js';
import { addTreeFlags, runDelta } from './delta-command.js';

export const importCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('import <file> [ref]', 'Create a single-layer image from a root filesystem tarball (plain, gzip, zstd, xz or bzip2; - for stdin); with --base, only what differs from an image, as a layer on it (FILE may then be a directory)')
    .option('--base <ref>', 'Compare with this image and write only the changes (and whiteouts for what is gone) as one layer on top of its layers (docs/incremental.md)')
    .option('-c, --change <instruction>', 'Apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)')
    .option('-m, --message <text>', 'History comment for the image')
    .option('--platform <os/arch[/variant]>', 'Platform recorded in the image (default: this machine)')
    .option('--force', 'Import a docker save or OCI archive\'s files (manifest.json, blobs/…) as a filesystem instead of refusing (rootfs load reads it as images)');
  addLayerCompressionFlags(addTreeFlags(command))
    .example('rootfs pack / | rootfs import - base:latest')
    .example('rootfs import / host:v2 --base host:v1 --preset centos --preset container')
    .example("rootfs import root.tar.gz app:1.0 -c 'CMD [\"/bin/bash\"]' -c 'ENV LANG=C.UTF-8'")
    .action((file: string, ref: string | undefined, opts) =>
      run(async (reporter) => {
        // docker import fetches a URL itself; rootfs reads only files and stdin, and says how to get there.
        if (/^(?:https?|ftp):\/\//i.test(file)) throw new UsageError(`import reads a file or stdin, not a URL: curl -fsSL '${file}' | rootfs import -${ref === undefined ? '' : ` ${ref}`}`);
        if (opts.base !== undefined) return runDelta(reporter, file, ref, String(opts.base), opts, 'import');
        const { compression, level } = layerCompression(opts);
        const tags = ref === undefined ? [] : [parseReference(ref)];
        const { stream: input, size } = await openInput(file, 'a tarball', `to import a directory: rootfs pack ${file} | rootfs import - REF, or rootfs import ${file} REF --base BASEREF for its changes`);
        const store = await openStore(opts);
        try {
          const result = await importTarball(store, input, {
            source: file,
            tags,
            changes: asList(opts.change),
            message: opts.message === undefined ? undefined : String(opts.message),
            platform: opts.platform === undefined ? undefined : parsePlatform(String(opts.platform)),
            compression,
            level,
            created: sourceDateEpoch(),
            acceptImageArchive: Boolean(opts.force),
            onProgress: (bytes, entries) => reporter.progress({ label: `importing ${file === '-' ? 'stdin' : file}`, bytes, total: size, entries }),
          });
          reporter.result(result.imageId);
          reporter.info(`${count(result.entries, 'entry')}, layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
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
