import { conversionRule } from '../engine/convert.js';
import { levelsHelp } from '../compress/levels.js';
import { UsageError } from '../errors.js';
import { parseTransportAddress } from '../transports/address.js';
import { copyImages } from '../transports/copy.js';
import { refuseTerminal } from '../io/output.js';
import { count } from '../text.js';
import type { CommandModule } from './command.js';
import { archiveCompression, platformFlags } from './options.js';
import { addRegistryFlags, refuseRegistryFlags, registryFlagValues, registryOptions, trackSent, transferDisplay } from './registry-options.js';
import { storeDir, withStore } from './store-option.js';
import { admissionHook, admissionPolicy, partSetReading } from './trust-options.js';

export const copyCommand: CommandModule = (cli, run) => {
  addRegistryFlags(
    cli
      .command('copy <source> <destination>', 'Copy images between transports as skopeo names them (oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG], docker-legacy:FILE, docker://HOST/REPO[:TAG]) and rootfs:REF, the store; the store is only touched when an end is rootfs:. An archive source may be a directory of rootfs split parts, read and repaired as load -i DIR reads them')
      .option('--platform <os/arch[/variant]>', 'Copy only this platform of a multi-platform image (default: from docker://, this machine\'s; from an archive or the store, the whole index where the destination can hold one)')
      .option('--all-platforms', 'From docker://, every platform of a multi-platform image, with its index (an archive or the store keeps every platform it holds anyway)')
      .option('--compression <mode>', 'Layers written to an archive: keep, gzip, zstd or none (keep turns zstd into none for docker archives)', { default: 'keep' })
      .option('--level <n>', `Level for the layers --compression gzip or zstd rewrites (${levelsHelp})`)
      .option('--no-referrers', 'Leave out the images\' referrers (signatures, SBOMs, attestations), which go with them by default')
      .option('--require-signed <pub[,pub…]>', 'Every image must carry a signature by one of these public keys over its manifest before anything is written to DESTINATION (exit 3); into the store, its policy.json can require it too (docs/trust.md)'),
  )
    .example('rootfs copy docker-archive:app.tar oci:/media/usb/layout:app')
    .example('rootfs copy oci:layout:app docker://registry.site:5000/ns/app:1.0')
    .example('rootfs copy docker://registry.site:5000/ns/app:1.0 rootfs:app:1.0')
    .example('rootfs copy --all-platforms docker://registry.site:5000/ns/app:1.0 oci:layout:app')
    .example('rootfs copy rootfs:app:1.0 oci-archive:app.tar')
    .example('rootfs copy docker-archive:/media/usb docker://registry.site:5000/ns/app:1.0')
    .action((sourceText: string, destinationText: string, opts) =>
      run(async (reporter) => {
        const source = parseTransportAddress(String(sourceText));
        const destination = parseTransportAddress(String(destinationText));
        const { compression, level } = archiveCompression(opts);
        registryFlagValues(opts);
        if (source.kind !== 'registry' && destination.kind !== 'registry') refuseRegistryFlags(opts, 'a copy without a docker:// end');
        if (source.kind === 'archive' && source.address.path === '-') refuseTerminal('stdin', 'an archive');
        if (destination.kind === 'archive' && destination.address.path === '-') {
          if (destination.address.format === 'oci') throw new UsageError('an oci layout is a directory; give it with oci:DIR');
          refuseTerminal('stdout', 'an archive');
        }
        // Where images come into the store, its policy applies as well as the flag.
        const policy = await admissionPolicy(opts, destination.kind === 'store' ? storeDir(opts) : undefined);
        // From the store there is no load to hook: the stored image's signature is checked before the copy starts.
        if (policy && source.kind === 'store') {
          const { verifyStoredImage } = await import('../trust/index.js');
          await withStore(opts, (store) => verifyStoredImage(store, source.ref, policy.keys, { content: false }), { readOnly: true });
        }
        // What a registry received cannot be taken back: an interruption says what went there.
        const sentTo = destination.kind === 'registry' ? trackSent(destination.address.registry) : undefined;
        const display = transferDisplay(reporter, { exists: 'Already exists', copied: 'Copied' });
        const result = await copyImages(source, destination, {
          ...(policy ? { beforeNames: admissionHook(policy, reporter) } : {}),
          partSet: partSetReading(reporter, policy),
          ...platformFlags(opts),
          conversion: conversionRule(compression, level),
          referrers: opts.referrers !== false,
          stdin: { input: process.stdin, name: 'stdin' },
          stdout: process.stdout,
          withStore: (readOnly, fn) => withStore(opts, fn, { readOnly }),
          registry: (host) => registryOptions(opts, host),
          onEvent: (event) => {
            sentTo?.(event);
            display(event);
          },
        });
        // An archive on stdout owns it: the lines go to stderr then, as save's do.
        const toStdout = destination.kind === 'archive' && destination.address.path === '-';
        for (const image of result.images) (toStdout ? reporter.info : reporter.result).call(reporter, `Copied ${image.tags[0] ?? image.descriptor.digest}: ${image.descriptor.digest}`);
        if (result.referrers > 0) reporter.info(`${count(result.referrers, 'referrer')} copied with ${result.images.length === 1 ? 'it' : 'them'}`);
        reporter.emitJson({ source: sourceText, destination: destinationText, images: result.images.map(({ tags, descriptor }) => ({ name: tags[0] ?? null, digest: descriptor.digest })), referrers: result.referrers });
      }, opts),
    );
};
