import { listPresets, loadPresets } from '../pack/presets.js';
import type { CommandModule } from './command.js';

export const presetsCommand: CommandModule = (cli, run) => {
  cli
    .command('presets [...names]', 'List the presets pack --preset takes; with names, what they leave out and store empty, composed in that order as repeated --preset composes them')
    .example('rootfs presets')
    .example('rootfs presets centos container')
    .action((names: string[], opts) =>
      run(async (reporter) => {
        if (names.length > 0) {
          const preset = loadPresets(names)!;
          reporter.emitJson(preset);
          reporter.result(`${preset.name}: ${preset.description}`);
          for (const glob of preset.exclude) reporter.result(`  exclude   ${glob}`);
          for (const glob of preset.truncate) reporter.result(`  truncate  ${glob}`);
          return;
        }
        const presets = listPresets();
        const width = Math.max(...presets.map((preset) => preset.name.length));
        for (const preset of presets) {
          reporter.result(`${preset.name.padEnd(width)}  ${preset.description} (${preset.exclude.length} excluded, ${preset.truncate.length} emptied)`);
        }
        reporter.emitJson(presets);
      }, opts),
    );
};
