/** Option parsing shared by several commands. */
import type { Command } from 'cac';
import { compressionLevel, levelsHelp } from '../compress/levels.js';
import { UsageError } from '../errors.js';
import { libdeflateBuiltIn } from '../compress/gzip.js';
import { checkChanges } from '../image/changes.js';
import type { LayerCompression } from '../image/layer.js';
import { compressionChoices, type CompressionChoice } from '../compress/index.js';
import { parsePlatform, platformChoice } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import type { Reporter } from './report.js';

/** cac gives a repeated option as an array and a single one as a scalar. */
export function asList(value: unknown): string[] {
  if (value === undefined || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** --compression and --level, for the commands that write a new layer (import, squash). */
export function addLayerCompressionFlags(command: Command): Command {
  return command
    .option('--compression <kind>', 'Layer compression: gzip, zstd or none', { default: 'gzip' })
    .option('--level <n>', `Compression level (${levelsHelp})`);
}

export function layerCompression(opts: { compression?: unknown; level?: unknown }, reporter: Reporter): { compression: LayerCompression; level: number | undefined } {
  const compression = String(opts.compression ?? 'gzip');
  if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') throw new UsageError(`--compression must be gzip, zstd or none, not '${compression}'`);
  // A build without libdeflate works, at a third of the speed: say so once, and how to fix it.
  if (compression === 'gzip' && !libdeflateBuiltIn()) reporter.info("rootfs: gzip uses Node's zlib, at twice libdeflate's CPU: this build has no libdeflate (apt-get install libdeflate-dev, then npm rebuild)");
  return { compression, level: compressionLevel(compression, opts.level) };
}

/** SOURCE_DATE_EPOCH (reproducible builds) as a Date, if set; a malformed one is a usage error, not silently "now". */
/** --compression keep|gzip|zstd|none and --level, as the commands that write archives take them (save, copy). */
export function archiveCompression(opts: { compression?: unknown; level?: unknown }): { compression: CompressionChoice; level: number | undefined } {
  const compression = String(opts.compression ?? 'keep');
  if (!(compressionChoices as readonly string[]).includes(compression)) throw new UsageError(`--compression must be one of ${compressionChoices.join(', ')}, not '${compression}'`);
  return { compression: compression as CompressionChoice, level: compressionLevel(compression, opts.level) };
}

export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): Date | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not '${value}'`);
  return new Date(Number(value) * 1000);
}

/** --platform and --all-platforms of the commands that bring images in (pull, load, copy): one, every one, or neither; both refused. */
export function platformFlags(opts: { platform?: unknown; allPlatforms?: unknown }): { platform?: Platform; allPlatforms?: true } {
  return platformChoice(opts.platform === undefined ? undefined : parsePlatform(String(opts.platform)), opts.allPlatforms === true);
}

/** -c/--change, -m/--message, --platform and SOURCE_DATE_EPOCH: what every command that writes a new image config takes. */
export function imageConfigFlags(opts: { change?: unknown; message?: unknown; platform?: unknown }): { changes: string[]; message: string | undefined; platform: Platform | undefined; created: Date | undefined } {
  return {
    changes: checkChanges(asList(opts.change)),
    message: opts.message === undefined ? undefined : String(opts.message),
    platform: opts.platform === undefined ? undefined : parsePlatform(String(opts.platform)),
    created: sourceDateEpoch(),
  };
}
