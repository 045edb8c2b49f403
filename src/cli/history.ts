import { printable } from '../errors.js';
import { digestHex } from '../oci/digest.js';
import { imageHistory } from '../image/history.js';
import type { CommandModule } from './command.js';
import { humanDuration } from './images.js';
import { alignColumns } from './template.js';
import { formatBytes } from './report.js';
import { withStoreReadOnly } from './store-option.js';
import { resolveImage } from '../store/resolve.js';

export const historyCommand: CommandModule = (cli, run) => {
  cli
    .command('history <ref>', 'Show how an image was made, newest first (docker history): IMAGE, CREATED, CREATED BY, SIZE (of the stored layer), COMMENT')
    .option('--no-trunc', "Don't truncate IDs and CREATED BY")
    .option('-H, --human', 'Sizes and dates in human-readable form (--human=false: bytes and RFC 3339 dates)', { default: true })
    .example('rootfs history host:v2')
    .action((ref: string, opts) =>
      run(async (reporter) => {
        const rows = imageHistory(await withStoreReadOnly(opts, (store) => resolveImage(store, ref)));
        reporter.emitJson(rows);
        const full = opts.trunc === false;
        const human = opts.human !== false && opts.human !== 'false';
        const now = Date.now();
        const table = [['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
        for (const row of rows) {
          const id = row.id === '<missing>' ? row.id : full ? row.id : digestHex(row.id).slice(0, 12);
          const created = row.created === undefined ? 'N/A' : human ? `${humanDuration(now - Date.parse(row.created))} ago` : row.created;
          // Escaped before it is cut, so the width is that of what is shown, and a newline in it cannot start a row.
          const text = printable(row.createdBy);
          const by = full || text.length <= 45 ? text : `${text.slice(0, 44)}…`;
          table.push([id, printable(created), by, human ? formatBytes(row.size) : String(row.size), printable(row.comment)]);
        }
        for (const line of alignColumns(table)) reporter.result(line.trimEnd());
      }, opts),
    );
};
