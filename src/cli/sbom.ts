import type { Command } from 'cac';
import { UsageError } from '../errors.js';
import { writeOutputFile } from '../io/output.js';
import { isSbomFormat, sbomFormats } from '../sbom/format.js';
import { PackageDatabaseTap } from '../sbom/collect.js';
import { attachCapturedSbom, imageSbom, treeSbom, type SbomResult } from '../sbom/image.js';
import type { Descriptor } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { Reporter } from './report.js';
import { count } from '../text.js';
import type { CommandModule } from './command.js';
import { sourceDateEpoch } from './options.js';
import { withStore, withStoreReadOnly } from './store-option.js';
import { openTree, pathKind } from './tree-input.js';
import { packageVersion } from './version.js';

export const sbomCommand: CommandModule = (cli, run) => {
  cli
    .command('sbom <source>', "The packages an image, a directory or a tarball holds, as an SBOM read offline from its own package databases (dpkg, rpm, apk): the image's attached SBOM if it has one, else one made from its layers")
    .option('--format <format>', `${Object.keys(sbomFormats).join(' or ')} (SPDX 2.3 or CycloneDX 1.6 JSON); for an image, default: the format of the SBOM attached, else spdx`)
    .option('-o, --output <file>', 'Output file, - for stdout', { default: '-' })
    .option('--attach', 'Make the SBOM from the image\'s layers and attach it to the image as an OCI referrer (it travels with save, push, split; sign signs it)')
    .option('--preset <name>', 'For a directory: leave out what the preset leaves out (repeatable)')
    .option('--exclude <glob>', 'For a directory: leave out matching paths (repeatable)')
    .example('rootfs sbom host:latest --format cyclonedx -o host.cdx.json')
    .example('rootfs sbom / --preset centos')
    .example('rootfs sbom host:latest --attach')
    .action((source: string, opts) =>
      run(async (reporter) => {
        const format = opts.format === undefined ? undefined : String(opts.format);
        if (format !== undefined && !isSbomFormat(format)) throw new UsageError(`--format must be one of ${Object.keys(sbomFormats).join(', ')}, not '${format}'`);
        const created = sourceDateEpoch();
        const request = { ...(format ? { format } : {}), toolVersion: packageVersion(), ...(created ? { created } : {}) };
        // An image unless it is a path on this machine, as diff's arguments.
        const kind = pathKind(source);
        const tree = kind !== 'none';
        if (tree && opts.attach) throw new UsageError(`--attach needs an image in the store; '${source}' is a path`);
        if (!tree && (opts.preset !== undefined || opts.exclude !== undefined)) throw new UsageError(`--preset and --exclude apply to a directory or tarball; '${source}' is an image`);
        let result: SbomResult;
        if (tree) result = await treeSbom((await openTree(source, opts)).members, source, request);
        else if (opts.attach) result = await withStore(opts, (store) => imageSbom(store, source, { ...request, attach: true }));
        else result = await withStoreReadOnly(opts, (store) => imageSbom(store, source, request));
        for (const warning of result.inventory?.warnings ?? []) reporter.warn(warning);
        const output = String(opts.output);
        if (output === '-' && !opts.attach) process.stdout.write(result.document);
        else if (output !== '-') await writeOutputFile(output, result.document);
        const what = result.inventory ? `${count(result.inventory.packages.length, 'package')} from ${result.inventory.databases.join(', ') || 'no package database'}` : 'the SBOM attached';
        const where = result.referrer ? ` (referrer ${result.referrer.digest})` : '';
        if (opts.attach) reporter.result(`${source}: attached ${result.format} SBOM of ${what}${where}`);
        else reporter.info(`${source}: ${result.format}, ${what}${where}`);
        reporter.emitJson({ format: result.format, subject: result.subject?.digest, referrer: result.referrer?.digest, packages: result.inventory?.packages.length, databases: result.inventory?.databases, warnings: result.inventory?.warnings ?? [] }, output === '-' && !opts.attach ? 'stderr' : 'stdout');
        return reporter.warnings > 0 ? 1 : 0;
      }, opts),
    );
};

/**
 * --sbom, for the commands that capture a tree (import, commit): attach an SBOM
 * of it. Off by default: podman 4.3 refuses an oci-archive that carries a
 * referrer and names a docker-archive's image otherwise (docs/sbom.md), and a
 * capture must load wherever the archive goes.
 */
export function addSbomFlag(command: Command): Command {
  return command.option('--sbom', 'Make an SBOM of the tree from its package databases as it is captured and attach it to the image (docs/sbom.md)');
}

/**
 * A capture (import, commit) with its SBOM: capture is given the tap to feed
 * (undefined without --sbom), and the SBOM of what it fed is attached to the
 * image it made, right after it is committed. One line says so; a database
 * that could not be read is a warning.
 */
export async function withCapture<T extends { manifest: Descriptor; imageId: string }>(reporter: Reporter, opts: { sbom?: unknown }, store: Store, created: Date, capture: (tap: PackageDatabaseTap | undefined) => Promise<T>): Promise<T> {
  const tap = opts.sbom === true ? new PackageDatabaseTap() : undefined;
  try {
    await tap?.open();
    const result = await capture(tap);
    if (tap) {
      // Named by the image ID, not a tag: the same image captured under two names gets one SBOM, not two.
      const { inventory, referrer } = await attachCapturedSbom(store, tap, result.manifest, result.imageId, { created, toolVersion: packageVersion() });
      for (const warning of inventory.warnings) reporter.warn(warning);
      // A tree with no package database gets no SBOM, and no line about it.
      if (referrer) reporter.info(`SBOM: ${count(inventory.packages.length, 'package')} from ${inventory.databases.join(', ')}, attached (referrer ${referrer.digest})`);
    }
    return result;
  } finally {
    await tap?.close();
  }
}
