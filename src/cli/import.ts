import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fromFsError, UsageError } from '../errors.js';
import { importTarball, type LayerCompression } from '../image/import.js';
import { parsePlatform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { openStore } from './store-option.js';
import { asList, parseLevel, sourceDateEpoch } from './options.js';

export const importCommand: CommandModule = (cli, run) => {
  cli
    .command('import <file> [ref]', 'Create a single-layer image from a root filesystem tarball (plain, gzip, zstd, xz or bzip2; - for stdin)')
    .option('-c, --change <instruction>', 'Apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)')
    .option('-m, --message <text>', 'History comment for the image')
    .option('--platform <os/arch[/variant]>', 'Platform recorded in the image (default: this machine)')
    .option('--compression <kind>', 'Layer compression: gzip, zstd or none', { default: 'gzip' })
    .option('--level <n>', 'Compression level (gzip 1-9, default 6; zstd 1-19, default 3)')
    .example('rootfs pack / | rootfs import - base:latest')
    .example("rootfs import root.tar.gz app:1.0 -c 'CMD [\"/bin/bash\"]' -c 'ENV LANG=C.UTF-8'")
    .action((file: string, ref: string | undefined, opts) =>
      run(async (reporter) => {
        const compression = String(opts.compression) as LayerCompression;
        if (!['gzip', 'zstd', 'none'].includes(compression)) throw new UsageError(`--compression must be gzip, zstd or none, not '${compression}'`);
        const tags = ref === undefined ? [] : [parseReference(ref)];
        const input = await openInput(file);
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
            level: parseLevel(opts.level),
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

async function openInput(file: string): Promise<Readable> {
  if (file === '-') {
    if (process.stdin.isTTY) throw new UsageError('refusing to read a tarball from a terminal (pipe one in, or name a file)');
    return process.stdin;
  }
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new UsageError(`${file} is a directory; to import a directory: rootfs pack ${file} | rootfs import - REF`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw fromFsError(err, file);
  }
  return createReadStream(file);
}
