import { readFileSync } from 'node:fs';
import type { CommandModule } from './command.js';

/** This package's version, from package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export const versionCommand: CommandModule = (cli, run) => {
  cli
    .command('version', 'Show the version and the compression libraries in use (layer digests depend on them)')
    .example('rootfs version --json')
    .action((opts) =>
      run(async (reporter) => {
        // Loaded here, not at start-up: the compressors are the heaviest modules.
        const { encoderInfo } = await import('../compress/index.js');
        const { gzip, zstd } = encoderInfo();
        const document = { version: packageVersion(), node: process.version, gzip, zstd };
        reporter.emitJson(document);
        reporter.result(`rootfs ${document.version}\nnode ${document.node}\ngzip: ${gzip}\nzstd: ${zstd}`);
      }, opts),
    );
};
