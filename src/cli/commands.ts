import type { CommandModule } from './main.js';

/** Every command, in the order --help lists them. */
export const commands: CommandModule[] = [];
