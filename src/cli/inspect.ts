import { inspectImages } from '../store/inspect.js';
import type { CommandModule } from './command.js';
import { withStoreReadOnly } from './store-option.js';
import { parseTemplate } from './template.js';

/**
 * docker's Config fields as Go holds them when the image leaves them out: a
 * template prints an empty list as `[]`, an empty map as `map[]` and an empty
 * string as nothing, where a missing key would print `<no value>` (and a
 * JSON null, which Go decodes to the same empty value, `<nil>`).
 */
const unsetConfig = { User: '', Env: [], Cmd: [], Entrypoint: [], WorkingDir: '', Labels: {}, Volumes: {}, ExposedPorts: {}, OnBuild: [], StopSignal: '' };

export const inspectCommand: CommandModule = (cli, run) => {
  cli
    .command('inspect <...refs>', 'Show images as JSON: docker\'s fields (Id, RepoTags, RepoDigests, Created, Config, RootFS…) plus descriptor, manifest and image config')
    .option('-f, --format <template>', "A Go template per image, with docker's field names: '{{.Id}}', '{{.RepoTags}}', '{{.Config.Env}}', '{{json .RootFS.Layers}}'; json for the JSON array")
    .example('rootfs inspect base:latest')
    .example("rootfs inspect -f '{{.Id}} {{.Architecture}}' base:latest")
    .action((refs: string[], opts) =>
      run(async (reporter) => {
        const template = opts.format === undefined || opts.format === 'json' ? undefined : parseTemplate(String(opts.format));
        const documents = await withStoreReadOnly(opts, (store) => inspectImages(store, refs));
        if (template) for (const document of documents) reporter.result(template.render({ ...document, Config: { ...unsetConfig, ...withoutNulls(document.Config) } }));
        // Otherwise JSON with or without --json, as docker inspect prints it.
        else if (reporter.json) reporter.emitJson(documents);
        else reporter.resultJson(documents);
      }, opts),
    );
};

function withoutNulls(object: object): object {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== null));
}
