import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromFsError, UsageError } from '../errors.js';
import { flattenToTar } from '../layers/flatten.js';
import { fsyncDir, tempName } from '../store/fs.js';
import type { CommandModule } from './main.js';
import { withStore } from './store-option.js';

export const exportCommand: CommandModule = (cli, run) => {
  cli
    .command('export <ref>', 'Write an image\'s merged root filesystem as one plain tar (what import takes back)')
    .option('-o, --output <file>', 'Output file, - for stdout', { default: '-' })
    .example('rootfs export app:1.0 -o app-rootfs.tar')
    .example('rootfs export app:1.0 | tar -t')
    .action((ref: string, opts) =>
      run(async () => {
        const output = String(opts.output);
        if (output === '-' && process.stdout.isTTY) throw new UsageError('refusing to write a tar to a terminal (use -o FILE or redirect stdout)');
        await withStore(opts, async (store) => {
          const image = await store.resolve(ref);
          const tar = flattenToTar(store, image.manifest.layers, { where: ref });
          if (output === '-') await pipeline(tar, process.stdout, { end: false });
          else await writeFileFromStream(output, tar);
        });
      }, opts),
    );
};

/** Writes FILE.tmp-…, fsyncs it and renames it into place: a failed export leaves FILE as it was. */
async function writeFileFromStream(file: string, input: Readable): Promise<void> {
  const target = resolve(file);
  try {
    if ((await stat(target)).isDirectory()) throw new UsageError(`${file} is a directory; give a file name`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, file);
  }
  const temp = tempName(dirname(target), `${basename(target)}.tmp`);
  let handle;
  try {
    handle = await open(temp, 'wx', 0o644);
  } catch (err) {
    throw fromFsError(err, temp);
  }
  try {
    await pipeline(input, createWriteStream('', { fd: handle.fd, autoClose: false })).catch((err: unknown) => {
      throw (err as NodeJS.ErrnoException).syscall === 'write' ? fromFsError(err, temp) : err;
    });
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, target);
  } catch (err) {
    await handle?.close();
    await rm(temp, { force: true });
    throw err instanceof UsageError || !(err instanceof Error && 'syscall' in err) ? err : fromFsError(err, file);
  }
  await fsyncDir(dirname(target));
}
