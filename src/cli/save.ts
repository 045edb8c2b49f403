import { reproducibleEncoders } from '../compress/index.js';
import { levelsHelp } from '../compress/levels.js';
import { UsageError } from '../errors.js';
import { refuseTerminal } from '../io/output.js';
import { isFormatName, isRegistryAddress, parseAddress, parseRegistryAddress, type FormatName } from '../transports/address.js';
import type { CompressionChoice } from '../compress/index.js';
import { conversionRule } from '../engine/convert.js';
import { saveImages, sinceLayers } from '../transports/save.js';
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
        if (opts.sign !== undefined) {
          if (compression !== 'keep') throw new UsageError(`--sign signs the images as stored; --compression ${compression} would archive other manifests (convert first with rootfs copy, then sign)`);
          if (opts.referrers === false) throw new UsageError('--sign with --no-referrers would leave the signatures out');
        }
        if (isRegistryAddress(String(opts.output))) {
          if (opts.sign !== undefined) await signBeforeSaving(reporter, refs, opts, String(opts.sign), platform);
          return saveToRegistry(reporter, refs, opts, { compression, level });
        }
        refuseRegistryFlags(opts, 'an archive');
        const address = parseAddress(String(opts.output));
        const flag = opts.format === undefined ? undefined : String(opts.format);
        if (flag !== undefined && !isFormatName(flag)) throw new UsageError(`--format must be docker-archive, docker-legacy, oci-archive or oci, not '${flag}'`);
        if (flag !== undefined && address.format !== undefined && flag !== address.format) throw new UsageError(`--format ${flag} contradicts the output ${String(opts.output)}`);
        const format: FormatName = address.format ?? flag ?? 'docker-archive';
        if (address.path === '-') {
          if (format === 'oci') throw new UsageError('an oci layout is a directory; give it with -o oci:DIR');
          refuseTerminal('stdout', 'an archive');
        }
        if (opts.sign !== undefined) {
          if (format === 'docker-legacy') throw new UsageError('--sign: a docker-legacy archive cannot carry signatures; save as docker-archive or oci-archive');
          // A docker archive carries one platform's manifest: that is what is signed, not the index.
          await signBeforeSaving(reporter, refs, opts, String(opts.sign), platform ?? (format === 'docker-archive' ? hostPlatform() : undefined));
        }
        const have = opts.excludeHave === undefined ? undefined : await readHaveFile(String(opts.excludeHave));
        const exclude = have?.blobs;
        const since = opts.since === undefined ? undefined : [opts.since].flat().map(String);
        // With --since alone nothing says what the site runs: it is taken to run what this rootfs does (a mismatch fails its load, exit 3, its store unchanged).
        const delta = opts.delta === false ? undefined : { encoders: have?.encoders ?? new Set(reproducibleEncoders()) };
        const { images: saved, omitted, deltas, referrers } = await withStoreReadOnly(opts, (store) =>
          saveImages(store, refs, address.path, {
            format,
            conversion: conversionRule(compression, level),
            platform,
            ref: address.ref,
            stdout: process.stdout,
            exclude,
            since,
            referrers: opts.referrers !== false,
            ...(delta ? { delta } : {}),
            onDelta: ({ layer, delta: sent, whole }) =>
              reporter.info(sent ? `layer ${shortDigest(layer.digest)} (${formatBytes(layer.size)}) sent as a delta of ${formatBytes(sent.size)} against ${shortDigest(sent.reference)}` : `layer ${shortDigest(layer.digest)} (${formatBytes(layer.size)}) sent whole: ${whole}`),
            onProgress: ({ bytes, blobs, total, archiveTotal, estimated, converting }) =>
              reporter.progress({
                label: 'saving',
                bytes,
                total,
                estimated,
                ...(address.path === '-' ? { toStdout: { total: archiveTotal, estimated } } : {}),
                note: converting ? `converting layer ${shortDigest(converting.layer.digest)}` : count(blobs, 'blob'),
              }),
            onEvent: transferDisplay(reporter, undefined, format),
          }),
        );
        reporter.info(`Saved ${count(saved.length, 'image')}${referrers > 0 ? ` and ${count(referrers, 'referrer')}` : ''} as ${format}${address.path === '-' ? ' to stdout' : ` to ${address.path}`}`);
        if (exclude || since) {
          const why = [...(since ? [`of ${since.join(', ')}`] : []), ...(exclude ? [`listed in ${String(opts.excludeHave)}`] : [])].join(' or ');
          reporter.info(`Left out ${count(omitted.layers, 'layer')} (${formatBytes(omitted.bytes)}) ${why}, which the receiving store holds`);
          if (deltas.layers > 0) reporter.info(`Sent ${count(deltas.layers, 'layer')} as deltas (${formatBytes(deltas.bytes)}): only rootfs load reads this archive; rootfs save there gives a full one`);
        }
        if (format === 'oci-archive' && referrers > 0) reporter.info(`podman load (4.3) refuses an oci-archive with referrers: for podman, save with --no-referrers`);
        // With the archive on stdout, the JSON summary goes to stderr instead (as pack does).
        reporter.emitJson({ format, output: address.path, omitted, deltas, referrers, images: saved.map(({ tags, id, descriptor }) => ({ name: tags[0] ?? null, id, digest: descriptor.digest, mediaType: descriptor.mediaType })) }, address.path === '-' ? 'stderr' : 'stdout');
      }, opts),
    );
};

/** save --sign KEY: every image found, then each signed in the store (rootfs sign), before anything is written. */
async function signBeforeSaving(reporter: Reporter, refs: string[], opts: Record<string, unknown>, keyFile: string, platform: Platform | undefined): Promise<void> {
  const { readSigningKey, signImages } = await import('../trust/index.js');
  const key = await readSigningKey(keyFile, passphrase(keyFile));
  const signed = await withStore(opts, (store) => signImages(store, refs, key, platform ? { platform } : {}));
  for (const line of signatureLines(signed)) reporter.info(line);
}

/** `save REF… -o docker://…`: `rootfs push` for each REF. The archive-only options are refused rather than ignored. */
async function saveToRegistry(reporter: Reporter, refs: string[], opts: Record<string, unknown>, { compression, level }: { compression: CompressionChoice; level: number | undefined }): Promise<void> {
  const output = String(opts.output);
  const address = parseRegistryAddress(output);
  if (opts.format !== undefined) throw new UsageError(`--format chooses an archive format; ${output} receives each image's manifests as they are stored (OCI or Docker schema 2)`);
  const platform = opts.platform === undefined ? undefined : parsePlatform(String(opts.platform));
  // --exclude-have and --since say what the receiver holds; a registry says so itself (a push asks before each
  // upload), so they are accepted, that one command line serves every transport, and checked, not acted on.
  if (opts.excludeHave !== undefined) await readHaveFile(String(opts.excludeHave));
  const conversion = conversionRule(compression, level);
  const pushed: PushedJson[] = await withStoreReadOnly(opts, async (store) => {
    await sinceLayers(store, opts.since === undefined ? [] : [opts.since].flat().map(String), platform);
    return pushToRegistry(store, refs, address, platform, (source, destination, shared) => pushReported(reporter, store, source, destination, opts, { ...shared, conversion, referrers: opts.referrers !== false }));
  });
  reporter.emitJson({ output, pushed });
}
