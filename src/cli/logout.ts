import { authFilePath, removeCredentials } from '../registry/credentials.js';
import type { CommandModule } from './command.js';
import { registryHost } from './registry-options.js';

export const logoutCommand: CommandModule = (cli, run) => {
  cli
    .command('logout <registry>', 'Remove the stored credentials for a registry')
    .option('--authfile <file>', 'Credentials file (default $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json)')
    .example('rootfs logout registry.site:5000')
    .action((registry: string, opts) =>
      run(async (reporter) => {
        const host = registryHost(registry);
        const removed = await removeCredentials(host, authFilePath(opts.authfile));
        reporter.result(removed ? `Removing login credentials for ${host}` : `Not logged in to ${host}`);
        reporter.emitJson({ registry: host, removed });
      }, opts),
    );
};
