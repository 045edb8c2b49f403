import type { UsageError } from '../errors.js';
import type { CommandModule } from './command.js';
import { didYouMean, usageError } from './usage.js';

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
  commit: async () => (await import('./commit.js')).commitCommand,
  diff: async () => (await import('./diff.js')).diffCommand,
  config: async () => (await import('./config.js')).configCommand,
  append: async () => (await import('./append.js')).appendCommand,
  history: async () => (await import('./history.js')).historyCommand,
  rebase: async () => (await import('./rebase.js')).rebaseCommand,
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
  copy: async () => (await import('./copy.js')).copyCommand,
  keygen: async () => (await import('./keygen.js')).keygenCommand,
  sbom: async () => (await import('./sbom.js')).sbomCommand,
  sign: async () => (await import('./sign.js')).signCommand,
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

/** `rootfs image SUB …`, docker's management-command spelling, as the command it means here. */
const imageSubcommands: Record<string, string[]> = {
  ls: ['images'],
  list: ['images'],
  rm: ['rmi'],
  remove: ['rmi'],
  inspect: ['inspect'],
  tag: ['tag'],
  save: ['save'],
  load: ['load'],
  import: ['import'],
  push: ['push'],
  pull: ['pull'],
  // docker image prune removes dangling images; here their blobs go at once too.
  prune: ['gc', '--dangling'],
};

const imageUsage = 'rootfs image COMMAND [options]';

/** What `rootfs image` and `rootfs image --help` print, as `docker image` prints its commands. */
export function imageHelp(): string {
  const width = Math.max(...Object.keys(imageSubcommands).map((name) => name.length)) + 2;
  const lines = Object.entries(imageSubcommands).map(([name, meant]) => `  ${name.padEnd(width)}rootfs ${meant.join(' ')}${name === 'prune' ? ' (asks [y/N] unless -f)' : ''}`);
  return `Usage: ${imageUsage}\n\ndocker's image subcommands, each the rootfs command it means (rootfs image COMMAND --help for its options):\n\n${lines.join('\n')}\n`;
}

/**
 * Where the command name is in args: the first argument that is not an
 * option or the value of a global option that takes one; -1 if none.
 */
function commandIndex(args: string[]): number {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--store') i++;
    else if (!arg.startsWith('-')) return i;
  }
  return -1;
}

/**
 * The arguments with docker's habits spelled as our commands: `help CMD` is
 * `CMD --help`, `image ls` is `images`, `image rm` is `rmi`, `image prune`
 * is `gc --dangling`, and so on.
 */
export function expandAliases(args: string[]): string[] | 'image-help' {
  const at = commandIndex(args);
  if (at < 0) return args;
  const [before, name, rest] = [args.slice(0, at), args[at]!, args.slice(at + 1)];
  if (name === 'help') {
    const topic = commandIndex(rest);
    if (topic < 0) return [...before, ...rest, '--help'];
    // Help on a command we do not have is that error alone, not the whole help followed by it.
    if (!Object.hasOwn(commands, rest[topic]!) && rest[topic] !== 'image') throw unknownCommand(rest[topic]!);
    return expandAliases([...before, ...rest, '--help']);
  }
  if (name !== 'image') return args;
  const sub = rest[0];
  if (sub === undefined || sub === '--help' || sub === '-h') return 'image-help';
  const meant = imageSubcommands[sub];
  if (!meant) throw usageError('image', `unknown command ${JSON.stringify(sub)}${didYouMean(sub, Object.keys(imageSubcommands))}; it takes ${Object.keys(imageSubcommands).join(', ')}`, imageUsage);
  return [...before, ...meant, ...rest.slice(1)];
}

/** The command args name (the first word that is not an option), if any. */
export function commandName(args: string[]): string | undefined {
  const at = commandIndex(args);
  return at < 0 ? undefined : args[at];
}

/**
 * The commands a run needs: the one args names, or all of them when it
 * names none we know (global --help, an unknown command, a typo to report).
 */
export function commandsFor(args: string[]): Promise<CommandModule[]> {
  const name = commandName(args);
  const load = name !== undefined && Object.hasOwn(commands, name) ? [commands[name]!] : Object.values(commands);
  return Promise.all(load.map((module) => module()));
}

export function unknownCommand(name: string): UsageError {
  return usageError(name, `unknown command${didYouMean(name, [...Object.keys(commands), 'image', 'help']) || ' (rootfs --help lists them)'}`, 'rootfs COMMAND [options]');
}
