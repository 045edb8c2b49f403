import { UsageError } from '../errors.js';
import { keyedMap } from '../image/changes.js';
import { deriveImage } from '../image/derive.js';
import { parsePlatform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { asList, sourceDateEpoch } from './options.js';
import { withStore, withStoreReadOnly } from './store-option.js';
import { resolveImage } from '../store/resolve.js';

export const configCommand: CommandModule = (cli, run) => {
  cli
    .command('config <ref> [newref]', "Print an image's config, or with changes write a new image with them (no layer changes); tags NEWREF, or REF again")
    .option('-c, --change <instruction>', 'A Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)')
    .option('--label <key=value>', 'Set a config label (repeatable)')
    .option('--annotation <key=value>', 'Set a manifest annotation (repeatable)')
    .option('--platform <os/arch[/variant]>', 'Record another platform')
    .example("rootfs config host:v2 -c 'CMD [\"/sbin/init\"]' -c 'ENV LANG=C.UTF-8' --label site=dc2")
    .action((ref: string, newref: string | undefined, opts) =>
      run(async (reporter) => {
        const changes = asList(opts.change);
        const labels = keyValues(asList(opts.label), '--label');
        const annotations = keyValues(asList(opts.annotation), '--annotation');
        const platform = opts.platform === undefined ? undefined : parsePlatform(String(opts.platform));
        const edits = changes.length + Object.keys(labels).length + Object.keys(annotations).length + (platform ? 1 : 0);
        if (edits === 0) {
          if (newref !== undefined) throw new UsageError('config REF NEWREF needs a change (-c, --label, --annotation or --platform)');
          const image = await withStoreReadOnly(opts, (store) => resolveImage(store, ref));
          if (reporter.json) reporter.emitJson(image.config);
          else reporter.resultJson(image.config);
          return;
        }
        const newTags = newref === undefined ? undefined : [parseReference(newref)];
        const what = [...changes, ...asList(opts.label).map((label) => `LABEL ${label}`), ...(platform ? [`--platform ${String(opts.platform)}`] : [])];
        const result = await withStore(opts, async (store) =>
          deriveImage(store, await resolveImage(store, ref), {
            changes,
            labels,
            annotations,
            platform,
            ...(what.length > 0 ? { createdBy: `rootfs config ${what.join(' ')}` } : {}),
            created: sourceDateEpoch(),
            ...(newTags ? { tags: newTags } : {}),
          }),
        );
        const tags = result.tags;
        reporter.result(result.imageId);
        reporter.info(`config of ${ref} changed${tags.length ? `, tagged ${tags.map(familiarName).join(', ')}` : ''}`);
        reporter.emitJson({ id: result.imageId, tags: tags.map(familiarName), manifest: result.manifest });
      }, opts),
    );
};

function keyValues(items: string[], flag: string): Record<string, string> {
  const out = keyedMap<string>();
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} must be key=value, not '${item}'`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}
