import { digestHex } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import { imageFilter, listImages } from '../store/images.js';
import type { CommandModule } from './command.js';
import { asList } from './options.js';
import { formatBytes } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { formatRows } from './template.js';

/** docker's column names for the fields a --format can use; the header row of a table is rendered from them. */
const headers = { ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE' };

export const imagesCommand: CommandModule = (cli, run) => {
  cli
    .command('images [reference]', 'List the images in the store (untagged ones as <none>); REFERENCE: a repository[:tag], or a pattern (base*, ns/*:1.*)')
    .option('-q, --quiet', 'Only the image IDs, one per image (for rootfs rmi $(rootfs images -q))')
    .option('-a, --all', 'Accepted for docker habits: every image is listed anyway')
    .option('--digests', 'Add a DIGEST column (the manifest digest the store keeps)')
    .option('--no-trunc', 'Full image IDs (sha256:…)')
    .option('-f, --filter <filter>', 'dangling=true|false (untagged images or not), reference=PATTERN (repeatable; several references: any of them)')
    .option('--format <format>', 'table (default), json (one object per line), or a Go template: {{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}} {{.CreatedSince}} {{.CreatedAt}} {{.Size}}; table TEMPLATE for aligned columns')
    .example('rootfs images')
    .example('rootfs images base')
    .example('rootfs images --filter dangling=true -q')
    .example("rootfs images --format '{{.Repository}}:{{.Tag}} {{.Size}}'")
    .action((reference: string | undefined, opts) =>
      run(async (reporter) => {
        const filter = imageFilter([...asList(opts.filter), ...(reference === undefined ? [] : [`reference=${reference}`])]);
        const rows = await withStoreReadOnly(opts, (store) => listImages(store, { filter, onWarning: (message) => reporter.warn(message) }));
        const noTrunc = opts.trunc === false;
        const shortId = (id: Digest): string => (noTrunc ? id : digestHex(id).slice(0, 12));
        if (opts.quiet) {
          // One line per image, not per name, so that rmi gets each image once.
          const ids = [...new Set(rows.map((row) => shortId(row.id)))];
          for (const id of ids) reporter.result(id);
          reporter.emitJson(ids);
        } else if (reporter.json) {
          reporter.emitJson(rows);
        } else {
          const now = Date.now();
          const fields = rows.map((row) => ({
            ID: shortId(row.id),
            Repository: row.repository,
            Tag: row.tag,
            Digest: row.digest,
            CreatedSince: row.created === null ? 'N/A' : `${humanDuration(now - Date.parse(row.created))} ago`,
            CreatedAt: row.created === null ? 'N/A' : goTime(row.created),
            Size: formatBytes(row.size),
          }));
          const table = `{{.Repository}}\t{{.Tag}}\t${opts.digests ? '{{.Digest}}\t' : ''}{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`;
          for (const line of formatRows(opts.format === undefined ? 'table' : String(opts.format), fields, headers, table)) reporter.result(line);
        }
        return reporter.warnings > 0 ? 1 : 0;
      }, opts),
    );
};

/** Go's time.Time String(), which docker prints for {{.CreatedAt}}: "2024-01-02 03:04:05 +0000 UTC". */
function goTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** docker's units.HumanDuration, which `docker images` shows as "2 days ago". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}
