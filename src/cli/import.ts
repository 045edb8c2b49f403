import { ExitCode, UsageError } from '../errors.js';
import { importDirectory, importMembers, importTarball, type ImportedImage, type ImportOptions } from '../image/import.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { addPackFlags, packEvents, packOptions, reportNotEntered, tarTreeOptions } from './pack-options.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';
import { addLayerCompressionFlags, imageConfigFlags, layerCompression } from './options.js';
import { openInput } from '../io/input.js';
import { estimatePack } from '../pack/estimate.js';
import { count } from '../text.js';
import { runDelta } from './delta-command.js';
import { openTree, pathKind } from './tree-input.js';
import { addSbomFlag, withCapture } from './sbom.js';
import type { PackageDatabaseTap } from '../sbom/collect.js';

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
        // docker import fetches a URL itself; rootfs reads only files and stdin, and says how to get there.
        if (/^(?:https?|ftp):\/\//i.test(file)) throw new UsageError(`reads a file or stdin, not a URL: curl -fsSL '${file}' | rootfs import -${ref === undefined ? '' : ` ${ref}`}`);
        const directory = pathKind(file) === 'directory';
        if (directory && opts.force) throw new UsageError(`--force takes an image archive's files as a tree; ${file} is a directory`);
        if (opts.base !== undefined) return runDelta(reporter, file, ref, String(opts.base), opts, 'import');
        if (opts.checksum) throw new UsageError('--checksum compares with an image: give --base BASEREF');
        const { compression, level } = layerCompression(opts, reporter);
        const tags = ref === undefined ? [] : [parseReference(ref)];
        const flags = imageConfigFlags(opts);
        const created = flags.created ?? new Date();
        const options: ImportOptions = {
          source: file,
          tags,
          ...flags,
          created,
          compression,
          level,
          acceptImageArchive: Boolean(opts.force),
        };
        const where = file === '-' ? 'stdin' : file;
        const observe = (tap: PackageDatabaseTap | undefined) => (tap ? { observe: tap.layerWatcher() } : {});
        const report = (result: ImportedImage, entries: number, inputCompression: string, notEntered?: readonly string[]): void => {
          reporter.result(result.imageId);
          reporter.info(`${count(entries, 'entry')}, layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
          reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest, layer: result.layer, diffId: result.diffId, entries, inputCompression, ...(notEntered ? { mountPointsNotEntered: notEntered } : {}) });
        };
        if (!directory && tarTreeOptions(opts, file === '-' ? 'stdin' : file)) {
          // Path rules on a tarball: its members through the same filter as a directory's, written as pack writes them.
          const tree = await openTree(file, opts, options.acceptImageArchive);
          const result = await withStore(opts, (store) => withCapture(reporter, opts, store, created, (tap) => importMembers(store, tree.members, { ...options, ...observe(tap) })));
          report(result, result.entries, tree.compression ?? 'none');
          return reporter.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
        }
        if (directory) {
          return withStore(opts, async (store) => {
            const tree = packOptions(opts);
            const result = await withCapture(reporter, opts, store, created, (tap) => importDirectory(store, file, { ...options, ...observe(tap) }, tree, packEvents(reporter, estimatePack(file, tree))));
            const entries = Object.values(result.pack.entries).reduce((a, b) => a + b, 0);
            reportNotEntered(reporter, result.pack.mountPointsNotEntered);
            report(result, entries, 'directory', result.pack.mountPointsNotEntered);
            return result.pack.warnings > 0 || reporter.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
          });
        }
        const { stream: input, size } = await openInput(file, 'a tarball', 'rootfs import packs a directory it is given');
        const result = await withStore(opts, (store) =>
          withCapture(reporter, opts, store, created, (tap) =>
            importTarball(store, input, {
              ...options,
              ...observe(tap),
              onProgress: (bytes, entries) => reporter.progress({ label: `importing ${where}`, bytes, total: size, fromStdin: file === '-', entries }),
            }),
          ),
        );
        report(result, result.entries, result.inputCompression);
        return reporter.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
      }, opts),
    );
};
