import { UsageError } from '../errors.js';
import { refuseTerminal } from '../io/output.js';
import { parseReference } from '../oci/reference.js';
import { isRegistryAddress, parseAddress, parseRegistryAddress, parseRegistryHost } from '../transports/address.js';
import { describeArchive, loadArchive, type LoadResult } from '../transports/load.js';
import { loadFromRegistry } from '../transports/registry.js';
import { pushLoaded } from '../transports/registry-transport.js';
import { platformFlags } from './options.js';
import type { CommandModule } from './command.js';
import { addRegistryFlags, type PushedJson, pushReported, refuseRegistryFlags, registryOptions, transferDisplay } from './registry-options.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';
import { count } from '../text.js';
import { admissionHook, admissionPolicy, partSetReading } from './trust-options.js';

export const loadCommand: CommandModule = (cli, run) => {
  addRegistryFlags(
    cli
      .command('load', 'Load every image and tag of a docker save archive, oci-archive, OCI layout or registry image into the store (and push them on with --push)')
      .option('-i, --input <source>', 'FILE or DIR (format detected), FORMAT:PATH[:REF] as skopeo spells it, - for stdin, or docker://HOST[:PORT]/REPO[:TAG|@DIGEST] to pull', { default: '-' })
      .option('-t, --tag <name[:tag]>', 'Name the one image loaded so, instead of as the archive names it (choose one of several with FORMAT:PATH:REF)')
      .option('--platform <os/arch[/variant]>', 'From a multi-platform index, load only this platform (default: keep the index; from a registry: this machine\'s)')
      .option('--all-platforms', 'From a registry, every platform of a multi-platform image, with its index (an archive keeps every platform it holds anyway)')
      .option('--no-referrers', 'Leave out the referrers (signatures, SBOMs, attestations) the archive or registry holds for the images, which come with them by default')
      .option('--require-signed <pub[,pub…]>', 'Every image must carry a signature by one of these public keys (rootfs sign) over its manifest, or a part set a signature over its manifest (split --sign); else nothing is stored (exit 3). The store\'s policy.json can require it too (docs/trust.md)')
      .option('--dry-run', 'Store nothing: list each layer the archive\'s manifests name and how it comes (whole, as a delta against which layer, or left out for the store to hold), with its bytes')
      .option('--push <host[:port]>', 'Then push every loaded tag to this registry under its repository path without its registry (base:latest → HOST/base:latest, reg:5000/ns/app:1 → HOST/ns/app:1)'),
  )
    .example('rootfs load -i images.tar')
    .example('docker save busybox | gzip | rootfs load')
    .example('rootfs load -i oci-archive:app.tar:app')
    .example('rootfs load -i oci:layout:deb --tag debian:12')
    .example('rootfs load -i site.tar --push registry.site:5000')
    .example('rootfs load -i docker://registry.site:5000/ns/app:1.0')
    .action((opts) =>
      run(async (reporter) => {
        const input = String(opts.input);
        const platforms = platformFlags(opts);
        const platform = platforms.platform;
        // Checked before anything is loaded, so a mistyped host costs nothing.
        const pushTo = opts.push === undefined ? undefined : parseRegistryHost(String(opts.push), `--push ${String(opts.push)}`);
        const registry = isRegistryAddress(input) ? parseRegistryAddress(input) : undefined;
        const tag = opts.tag === undefined ? undefined : parseReference(String(opts.tag));
        if (tag && registry) throw new UsageError(`--tag names an image loaded from an archive; to name a pulled image: rootfs pull ${input} NAME:TAG`);
        const address = registry ? undefined : parseAddress(input);
        if (address && pushTo === undefined) refuseRegistryFlags(opts, 'an archive');
        if (address?.path === '-') refuseTerminal('stdin', 'an archive');
        if (opts.dryRun === true) {
          if (!address) throw new UsageError(`--dry-run describes an archive; ${input} is a registry (rootfs inspect shows a pulled image)`);
          for (const flag of ['push', 'tag', 'requireSigned'] as const) if (opts[flag] !== undefined) throw new UsageError(`--dry-run stores nothing, so --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} has nothing to apply to`);
          const layers = await describeArchive(address, { input: process.stdin, name: 'stdin' }, partSetReading(reporter, undefined));
          for (const layer of layers) {
            const what = layer.carried === 'whole' ? 'whole' : layer.carried === 'absent' ? 'left out: the store must hold it' : `as a delta of ${formatBytes(layer.delta!.deltaSize)} against layer ${layer.delta!.reference.digest}`;
            reporter.result(`layer ${layer.digest} (${formatBytes(layer.size)}): ${what}`);
          }
          reporter.emitJson({ layers: layers.map(({ digest, size, carried, delta }) => ({ digest, size, carried, ...(delta ? { delta: { digest: delta.delta, size: delta.deltaSize, reference: delta.reference, recipe: delta.recipe } } : {}) })) });
          return 0;
        }
        return withStore(opts, async (store) => {
          const policy = await admissionPolicy(opts, store.dir);
          let result: LoadResult;
          if (registry) {
            result = await loadFromRegistry(store, registry, {
              ...(await registryOptions(opts, registry.registry)),
              ...platforms,
              referrers: opts.referrers !== false,
              ...(policy ? { beforeNames: admissionHook(policy, reporter) } : {}),
              onEvent: transferDisplay(reporter, { exists: 'Already exists', copied: 'Pull complete' }),
            });
          } else {
            const archive = address!; // parsed above whenever the input is not a registry
            result = await loadArchive(store, archive, {
              platform,
              ...(tag ? { tag } : {}),
              referrers: opts.referrers !== false,
              ...(policy ? { beforeNames: admissionHook(policy, reporter) } : {}),
              partSet: partSetReading(reporter, policy),
              onEvent: transferDisplay(reporter),
              stdin: { input: process.stdin, name: 'stdin' },
              onProgress: ({ bytes, blobs, total }) => reporter.progress({ label: 'loading', bytes, total, fromStdin: archive.path === '-', note: count(blobs, 'blob') }),
            });
          }
          const { images: loaded, fromStore, rebuilt, referrers } = result;
          for (const image of loaded) {
            if (image.tags.length === 0) reporter.result(`Loaded image ID: ${image.id}`);
            for (const tag of image.tags) reporter.result(`Loaded image: ${tag}`);
          }
          if (referrers > 0) reporter.info(`Loaded ${count(referrers, 'referrer')} with them`);
          if (fromStore.layers > 0) reporter.info(`${count(fromStore.layers, 'layer')} (${formatBytes(fromStore.bytes)}) left out of the archive found in the store`);
          if (rebuilt.layers > 0) reporter.info(`${count(rebuilt.layers, 'layer')} (${formatBytes(rebuilt.bytes)}) rebuilt from deltas against layers in the store, to the same bytes`);

          let pushed: PushedJson[] = [];
          if (pushTo !== undefined) {
            const done = await pushLoaded(loaded, pushTo, (source, destination, shared) => pushReported(reporter, store, source, destination, opts, { ...shared, referrers: opts.referrers !== false }));
            for (const image of done.untagged) reporter.warn(`${image.id} has no name, so it has no repository on ${pushTo}: not pushed (tag it and use rootfs push)`);
            pushed = done.pushed;
          }
          reporter.emitJson({
            images: loaded.map(({ tags, id, descriptor }) => ({ tags, id, digest: descriptor.digest, mediaType: descriptor.mediaType })),
            fromStore,
            rebuilt,
            referrers,
            ...(pushTo !== undefined ? { pushed } : {}),
          });
          return reporter.warnings > 0 ? 1 : 0;
        });
      }, opts),
    );
};
