import { ExitCode, UsageError } from '../errors.js';
import { importDirectory, importTarball, type ImportedImage, type ImportOptions } from '../image/import.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { addPackFlags, packEvents, packFlagsGiven, packOptions } from './pack-options.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';
import { addLayerCompressionFlags, imageConfigFlags, layerCompression } from './options.js';
import { openInput } from '../io/input.js';
import { count } from '../text.js';
import { runDelta } from './delta-command.js';
import { pathKind } from './tree-input.js';

export const importCommand: CommandModule = (cli, run) => {
  const command = cli
    .command('import <file> [ref]', 'Create a single-layer image from a root filesystem tarball (plain, gzip, zstd, xz or bzip2; - for stdin) or a directory (packed as rootfs pack packs it; exit 1: completed with warnings); with --base, only what differs from an image, as a layer on it')
    .option('--base <ref>', 'Compare with this image and write only the changes (and whiteouts for what is gone) as one layer on top of its layers (docs/incremental.md)')
    .option('--checksum', 'With --base: also compare the contents of files whose metadata is the same (reads every file, as rsync -c)')
    .option('-c, --change <instruction>', 'Apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)')
    .option('-m, --message <text>', 'History comment for the image')
    .option('--platform <os/arch[/variant]>', 'Platform recorded in the image (default: this machine)')
    .option('--force', 'Import a docker save or OCI archive\'s files (manifest.json, blobs/…) as a filesystem instead of refusing (rootfs load reads it as images)');
  addPackFlags(addLayerCompressionFlags(command))
    .example('rootfs pack / | rootfs import - base:latest')
    .example('rootfs import / host:latest --preset debian')
    .example('rootfs import / host:v2 --base host:v1 --preset centos --preset container')
    .example("rootfs import root.tar.gz app:1.0 -c 'CMD [\"/bin/bash\"]' -c 'ENV LANG=C.UTF-8'")
    .action((file: string, ref: string | undefined, opts) =>
      run(async (reporter) => {
        // docker import fetches a URL itself; rootfs reads only files and stdin, and says how to get there.
        if (/^(?:https?|ftp):\/\//i.test(file)) throw new UsageError(`import reads a file or stdin, not a URL: curl -fsSL '${file}' | rootfs import -${ref === undefined ? '' : ` ${ref}`}`);
        const directory = pathKind(file) === 'directory';
        if (opts.base !== undefined) {
          // The compare reads a directory with --preset and --exclude only (src/pack/members.ts).
          const unsupported = ['excludeFrom', 'crossMounts', 'selinux', 'mtime', 'strict'].filter((name) => opts[name] !== undefined && opts[name] !== false);
          if (unsupported.length > 0 || opts.defaultExcludes === false) throw new UsageError('with --base, a directory takes --preset and --exclude of pack\'s flags, not the others');
          return runDelta(reporter, file, ref, String(opts.base), opts, 'import');
        }
        if (opts.checksum) throw new UsageError('--checksum compares with an image: give --base BASEREF');
        if (!directory && packFlagsGiven(opts)) throw new UsageError(`${file} is not a directory: --exclude, --preset and the other pack flags apply to a directory`);
        const { compression, level } = layerCompression(opts, reporter);
        const tags = ref === undefined ? [] : [parseReference(ref)];
        const options: ImportOptions = {
          source: file,
          tags,
          ...imageConfigFlags(opts),
          compression,
          level,
          acceptImageArchive: Boolean(opts.force),
        };
        const report = (result: ImportedImage, entries: number, inputCompression: string): void => {
          reporter.result(result.imageId);
          reporter.info(`${count(entries, 'entry')}, layer ${result.layer.digest} (${formatBytes(result.layer.size)} ${compression})${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
          reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest, layer: result.layer, diffId: result.diffId, entries, inputCompression });
        };
        if (directory) {
          return withStore(opts, async (store) => {
            const result = await importDirectory(store, file, options, packOptions(opts), packEvents(reporter));
            const entries = Object.values(result.pack.entries).reduce((a, b) => a + b, 0);
            report(result, entries, 'directory');
            return result.pack.warnings > 0 ? ExitCode.Warnings : ExitCode.Ok;
          });
        }
        const { stream: input, size } = await openInput(file, 'a tarball', 'rootfs import packs a directory it is given');
        const result = await withStore(opts, (store) =>
          importTarball(store, input, {
            ...options,
            onProgress: (bytes, entries) => reporter.progress({ label: `importing ${file === '-' ? 'stdin' : file}`, bytes, total: size, entries }),
          }),
        );
        report(result, result.entries, result.inputCompression);
        return ExitCode.Ok;
      }, opts),
    );
};
