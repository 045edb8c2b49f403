import { importImage, openImportSource } from '../image/import-source.js';
import type { CommandModule } from './command.js';
import { captureEvents, captureOptions, reportCapture } from './capture.js';
import { addLayerCompressionFlags } from './options.js';
import { addPackFlags, treeChoice } from './pack-options.js';
import { addSbomFlag } from './sbom.js';
import { withStore } from './store-option.js';

export const importCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('import <file> [ref]', 'Create a single-layer image from a root filesystem tarball (plain, gzip, zstd, xz or bzip2; - for stdin) or a directory (packed as rootfs pack packs it; exit 1: completed with warnings); with --base, only what differs from an image, as a layer on it')
    .option('--base <ref>', 'Compare with this image and write only the changes (and whiteouts for what is gone) as one layer on top of its layers (docs/incremental.md)')
    .option('--checksum', "With --base: read and hash every file whose metadata matches, not only those changed since the base's capture (as rsync -c; docs/incremental.md)")
    .option('-c, --change <instruction>', 'Apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)')
    .option('-m, --message <text>', 'History comment for the image')
    .option('--platform <os/arch[/variant]>', 'Platform recorded in the image (default: this machine)')
    .option('--force', 'Import a docker save or OCI archive\'s files (manifest.json, blobs/…) as a filesystem instead of refusing (rootfs load reads it as images)');
  addPackFlags(addLayerCompressionFlags(addSbomFlag(command)))
    .example('rootfs pack / | rootfs import - base:latest')
    .example('rootfs import / host:latest --preset debian')
    .example('rootfs import / host:v2 --base host:v1 --preset centos --preset container')
    .example("rootfs import root.tar.gz app:1.0 -c 'CMD [\"/bin/bash\"]' -c 'ENV LANG=C.UTF-8'")
    .action((file: string, ref: string | undefined, opts) =>
      run(async (reporter) => {
        const options = captureOptions(reporter, opts, ref, 'import');
        const source = await openImportSource(file, { tree: treeChoice(opts), force: Boolean(opts.force), base: opts.base === undefined ? undefined : String(opts.base), checksum: Boolean(opts.checksum), name: ref });
        const result = await withStore(opts, (store) => importImage(store, source, options, captureEvents(reporter, source)));
        return reportCapture(reporter, result, options.compression);
      }, opts),
    );
};
