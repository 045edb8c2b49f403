import type { CommandModule } from './main.js';

/**
 * Every command, in the order --help lists them, each loaded only when
 * needed: a run loads the one command it names, so `rootfs pack` does not
 * pay for the registry client, the compressors and the rest (~0.1 s at
 * start-up, measured: see docs/benchmarks.md).
 */
const commands: Record<string, () => Promise<CommandModule>> = {
  pack: async () => (await import('./pack.js')).packCommand,
  presets: async () => (await import('./presets.js')).presetsCommand,
  import: async () => (await import('./import.js')).importCommand,
  images: async () => (await import('./images.js')).imagesCommand,
  tag: async () => (await import('./tag.js')).tagCommand,
  rmi: async () => (await import('./rmi.js')).rmiCommand,
  inspect: async () => (await import('./inspect.js')).inspectCommand,
  gc: async () => (await import('./gc.js')).gcCommand,
  squash: async () => (await import('./squash.js')).squashCommand,
  export: async () => (await import('./export.js')).exportCommand,
  unpack: async () => (await import('./unpack.js')).unpackCommand,
  save: async () => (await import('./save.js')).saveCommand,
  load: async () => (await import('./load.js')).loadCommand,
  split: async () => (await import('./split.js')).splitCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  join: async () => (await import('./join.js')).joinCommand,
  have: async () => (await import('./have.js')).haveCommand,
  push: async () => (await import('./push.js')).pushCommand,
  pull: async () => (await import('./pull.js')).pullCommand,
  login: async () => (await import('./login.js')).loginCommand,
  logout: async () => (await import('./logout.js')).logoutCommand,
  version: async () => (await import('./version.js')).versionCommand,
};

/**
 * The commands a run needs: the one argv names, or all of them when it
 * names none we know (global --help, an unknown command, a typo to report).
 * The name is the first argument that is not an option or the value of a
 * global option that takes one.
 */
export function commandsFor(args: string[]): Promise<CommandModule[]> {
  let name: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--store') i++;
    else if (!arg.startsWith('-')) {
      name = arg;
      break;
    }
  }
  const load = name !== undefined && Object.hasOwn(commands, name) ? [commands[name]!] : Object.values(commands);
  return Promise.all(load.map((module) => module()));
}
