import type { Command } from 'cac';
import { UsageError } from '../errors.js';
import { writeOutputFile } from '../io/output.js';
import { isSbomFormat, sbomFormats } from '../sbom/format.js';
import type { CapturedSbom } from '../sbom/image.js';
import { sbomOf } from '../image/sbom-source.js';
import type { Reporter } from './report.js';
import { count } from '../text.js';
import type { CommandModule } from './command.js';
import { sourceDateEpoch } from './options.js';
import { withStore } from './store-option.js';
import { treeChoice } from './pack-options.js';
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
        const result = await sbomOf(source, {
          ...request,
          attach: Boolean(opts.attach),
          tree: treeChoice(opts),
          treeOptionsGiven: opts.preset !== undefined || opts.exclude !== undefined,
          withStore: (readOnly, fn) => withStore(opts, fn, { readOnly }),
        });
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

/** What a capture's SBOM found (--sbom): a database that could not be read is a warning; one line names the SBOM attached (none for a tree with no package database). */
export function reportCapturedSbom(reporter: Reporter, sbom: CapturedSbom | undefined): void {
  if (!sbom) return;
  for (const warning of sbom.inventory.warnings) reporter.warn(warning);
  if (sbom.referrer) reporter.info(`SBOM: ${count(sbom.inventory.packages.length, 'package')} from ${sbom.inventory.databases.join(', ')}, attached (referrer ${sbom.referrer.digest})`);
}
