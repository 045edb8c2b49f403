import { digestHex } from '../oci/digest.js';
import { familiarRepository } from '../oci/reference.js';
import { RootfsError } from '../errors.js';
import type { CommandModule } from './main.js';
import { formatBytes } from './report.js';
import { withStore } from './store-option.js';

export const imagesCommand: CommandModule = (cli, run) => {
  cli
    .command('images', 'List the tagged images in the store')
    .example('rootfs images')
    .example('rootfs images --json')
    .action((opts) =>
      run(async (reporter) => {
        const rows = await withStore(opts, async (store) => {
          const out = [];
          for (const image of await store.listImages()) {
            try {
              const resolved = await store.resolveEntry(image.descriptor);
              out.push({
                repository: familiarRepository(image.ref),
                tag: image.ref.tag ?? '<none>',
                name: image.name,
                id: resolved.manifest.config.digest,
                digest: image.descriptor.digest,
                created: resolved.config.created ?? null,
                size: resolved.manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
              });
            } catch (err) {
              if (!(err instanceof RootfsError)) throw err;
              reporter.warn(`${image.name}: ${err.message}`);
            }
          }
          return out;
        });
        rows.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.name.localeCompare(b.name));
        reporter.emitJson(rows);
        const now = Date.now();
        const table = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
        for (const row of rows) {
          const created = row.created === null ? 'N/A' : `${humanDuration(now - Date.parse(row.created))} ago`;
          table.push([row.repository, row.tag, digestHex(row.id).slice(0, 12), created, formatBytes(row.size)]);
        }
        for (const line of alignColumns(table)) reporter.result(line);
        return reporter.warnings > 0 ? 1 : 0;
      }, opts),
    );
};

/** Columns padded as docker's tabwriter does (minimum width 10, padding 3). */
export function alignColumns(table: string[][]): string[] {
  const widths = table[0]!.map((_, column) => Math.max(10, ...table.map((row) => row[column]!.length + 3)));
  return table.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join(''));
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
