import { familiarRepository } from '../oci/reference.js';
import type { CommandModule } from './command.js';
import { withStoreReadOnly } from './store-option.js';
import { parseTemplate } from './template.js';
import { resolveImage } from '../store/resolve.js';

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
        const documents = await withStoreReadOnly(opts, async (store) => {
          const entries = await store.listEntries();
          const out = [];
          for (const text of refs) {
            const image = await resolveImage(store, text);
            const names = entries.filter((entry) => entry.descriptor.digest === image.descriptor.digest && entry.ref !== undefined);
            const { config } = image;
            out.push({
              Id: image.manifest.config.digest,
              RepoTags: names.map((entry) => entry.name!),
              RepoDigests: [...new Set(names.map((entry) => `${familiarRepository(entry.ref!)}@${image.descriptor.digest}`))],
              Parent: '',
              Comment: config.comment ?? '',
              Created: config.created ?? null,
              Author: config.author ?? '',
              Config: config.config ?? {},
              Architecture: config.architecture,
              ...(config.variant !== undefined ? { Variant: config.variant } : {}),
              Os: config.os,
              Size: image.manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
              RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
              Descriptor: image.descriptor,
              ManifestDescriptor: image.manifestDescriptor,
              Manifest: image.manifest,
              ImageConfig: config,
            });
          }
          return out;
        });
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
