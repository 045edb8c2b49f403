import { listPresets } from '../pack/presets.js';
import type { CommandModule } from './main.js';

export const presetsCommand: CommandModule = (cli, run) => {
  cli
    .command('presets', 'List the presets rootfs pack --preset takes')
    .example('rootfs presets --json')
    .action((opts) =>
      run(async (reporter) => {
        const presets = listPresets();
        const width = Math.max(...presets.map((preset) => preset.name.length));
        for (const preset of presets) reporter.result(`${preset.name.padEnd(width)}  ${preset.description}`);
        reporter.emitJson(presets);
      }, opts),
    );
};
