import { levelsHelp } from '../compress/levels.js';
import { UsageError } from '../errors.js';
import { refuseTerminal } from '../io/output.js';
import { isRegistryAddress, outputAddress, parseRegistryAddress, type FormatName } from '../transports/address.js';
import type { CompressionChoice } from '../compress/index.js';
import { conversionRule } from '../engine/convert.js';
import { saveImages } from '../transports/save.js';
import { hostPlatform, parsePlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import { pushToRegistry } from '../transports/registry-transport.js';
import { readHaveFile } from '../transports/omitted-layers.js';
import type { CommandModule } from './command.js';
import { archiveCompression } from './options.js';
import { addRegistryFlags, type PushedJson, pushReported, refuseRegistryFlags, transferDisplay } from './registry-options.js';
import { formatBytes, shortDigest, type Reporter } from './report.js';
import { withStore, withStoreReadOnly } from './store-option.js';
import { passphrase } from './prompt.js';
import { signatureLines } from './trust-options.js';
import { count } from '../text.js';

export const saveCommand: CommandModule = (cli, run) => {
  addRegistryFlags(
    cli
      .command('save <...refs>', 'Write images to a docker-archive, oci-archive or OCI layout (shared layers once), or push them to a registry')
      .option('-o, --output <target>', 'FILE, FORMAT:PATH[:REF] as skopeo spells it, - for stdout, or docker://HOST[:PORT][/REPO[:TAG]] to push (HOST alone: each image under its own repository path and tag)', { default: '-' })
      .option('--format <format>', 'docker-archive (Docker 25+ layout, read by every docker), docker-legacy, oci-archive or oci (a directory)')
      .option('--compression <mode>', 'Layers: keep, gzip, zstd or none (keep turns zstd into none for docker archives)', { default: 'keep' })
      .option('--level <n>', `Level for the layers --compression gzip or zstd rewrites (${levelsHelp})`)
      .option('--platform <os/arch[/variant]>', 'Save (or push) only this platform of a multi-platform image')
      .option('--exclude-have <file>', 'Leave out the layers the receiving store holds, as `rootfs have` there wrote them')
      .option('--since <ref>', 'Leave out the layers of REF, an image this store holds and so does the receiving store (repeatable)')
      .option('--no-delta', 'With --exclude-have or --since: send every layer the receiving store lacks whole, not as a delta against a layer it holds (a delta archive is for rootfs load only)')
      .option('--no-referrers', 'Leave out the images\' referrers (signatures, SBOMs, attestations: manifests whose subject is a saved image), which go with them by default')
      .option('--sign <key>', 'Sign each image first, as rootfs sign does (the signature is kept in the store and travels in the archive), so that load --require-signed at the other end can check it'),
  )
    .example('rootfs save base:latest app:1.0 -o images.tar')
    .example('rootfs save base:latest --format oci-archive | ssh host rootfs load')
    .example('rootfs save app:1.0 -o oci:/srv/layout:app')
    .example('rootfs save app:2.0 --exclude-have have.json -o app-delta.tar')
    .example('rootfs save app:2.0 --since app:1.0 -o app-delta.tar')
    .example('rootfs save app:1.0 -o docker://registry.site:5000/ns/app:1.0')
    .example('rootfs save base:latest ns/app:1.0 -o docker://registry.site:5000')
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        const { compression, level } = archiveCompression(opts);
        const platform = opts.platform === undefined ? undefined : parsePlatform(String(opts.platform));
        const conversion = conversionRule(compression, level);
        const toRegistry = isRegistryAddress(String(opts.output));
        const address = toRegistry ? undefined : outputAddress(String(opts.output), opts.format === undefined ? undefined : String(opts.format));
        if (!toRegistry) refuseRegistryFlags(opts, 'an archive');
        else if (opts.format !== undefined) throw new UsageError(`--format chooses an archive format; ${String(opts.output)} receives each image's manifests as they are stored (OCI or Docker schema 2)`);
        if (address?.path === '-') refuseTerminal('stdout', 'an archive');
        const have = opts.excludeHave === undefined ? undefined : await readHaveFile(String(opts.excludeHave));
        const since = opts.since === undefined ? undefined : [opts.since].flat().map(String);
        if (opts.sign !== undefined) await signBeforeSaving(reporter, refs, opts, { format: address?.format, compression, platform });
        if (!address) {
          const registry = parseRegistryAddress(String(opts.output));
          const pushed: PushedJson[] = await withStoreReadOnly(opts, (store) =>
            pushToRegistry(store, refs, registry, platform, (source, destination, shared) => pushReported(reporter, store, source, destination, opts, { ...shared, conversion, referrers: opts.referrers !== false }), since),
          );
          return reporter.emitJson({ output: String(opts.output), pushed });
        }
        const { format, path } = address;
        const { images: saved, omitted, deltas, referrers } = await withStoreReadOnly(opts, (store) =>
          saveImages(store, refs, path, {
            format,
            conversion,
            platform,
            ref: address.ref,
            stdout: process.stdout,
            have,
            since,
            referrers: opts.referrers !== false,
            delta: opts.delta !== false,
            onDelta: ({ layer, delta: sent, whole }) =>
              reporter.info(sent ? `layer ${shortDigest(layer.digest)} (${formatBytes(layer.size)}) sent as a delta of ${formatBytes(sent.size)} against ${shortDigest(sent.reference)}` : `layer ${shortDigest(layer.digest)} (${formatBytes(layer.size)}) sent whole: ${whole}`),
            onProgress: ({ bytes, blobs, total, archiveTotal, estimated, converting }) =>
              reporter.progress({ label: 'saving', bytes, total, estimated, ...(path === '-' ? { toStdout: { total: archiveTotal, estimated } } : {}), note: converting ? `converting layer ${shortDigest(converting.layer.digest)}` : count(blobs, 'blob') }),
            onEvent: transferDisplay(reporter, undefined, format),
          }),
        );
        reporter.info(`Saved ${count(saved.length, 'image')}${referrers > 0 ? ` and ${count(referrers, 'referrer')}` : ''} as ${format}${path === '-' ? ' to stdout' : ` to ${path}`}`);
        if (have || since) {
          const why = [...(since ? [`of ${since.join(', ')}`] : []), ...(have ? [`listed in ${String(opts.excludeHave)}`] : [])].join(' or ');
          reporter.info(`Left out ${count(omitted.layers, 'layer')} (${formatBytes(omitted.bytes)}) ${why}, which the receiving store holds`);
          if (deltas.layers > 0) reporter.info(`Sent ${count(deltas.layers, 'layer')} as deltas (${formatBytes(deltas.bytes)}): only rootfs load reads this archive; rootfs save there gives a full one`);
        }
        if (format === 'oci-archive' && referrers > 0) reporter.info(`podman load (4.3) refuses an oci-archive with referrers: for podman, save with --no-referrers`);
        // With the archive on stdout, the JSON summary goes to stderr instead (as pack does).
        reporter.emitJson({ format, output: path, omitted, deltas, referrers, images: saved.map(({ tags, id, descriptor }) => ({ name: tags[0] ?? null, id, digest: descriptor.digest, mediaType: descriptor.mediaType })) }, path === '-' ? 'stderr' : 'stdout');
      }, opts),
    );
};

/**
 * save --sign KEY: every image found, then each signed in the store (rootfs
 * sign), before anything is written: the manifest a docker archive carries
 * (this machine's platform unless --platform), as stored (no --compression).
 */
async function signBeforeSaving(reporter: Reporter, refs: string[], opts: Record<string, unknown>, { format, compression, platform }: { format: FormatName | undefined; compression: CompressionChoice; platform: Platform | undefined }): Promise<void> {
  if (compression !== 'keep') throw new UsageError(`--sign signs the images as stored; --compression ${compression} would archive other manifests (convert first with rootfs copy, then sign)`);
  if (opts.referrers === false) throw new UsageError('--sign with --no-referrers would leave the signatures out');
  if (format === 'docker-legacy') throw new UsageError('--sign: a docker-legacy archive cannot carry signatures; save as docker-archive or oci-archive');
  const { readSigningKey, signImages } = await import('../trust/index.js');
  const keyFile = String(opts.sign);
  const key = await readSigningKey(keyFile, passphrase(keyFile));
  const signed = await withStore(opts, (store) => signImages(store, refs, key, { platform: platform ?? (format === 'docker-archive' ? hostPlatform() : undefined) }));
  for (const line of signatureLines(signed)) reporter.info(line);
}
