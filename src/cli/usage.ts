/**
 * Our side of the option parser: the checks cac would make before an action
 * runs (unknown options, options without their value, too few or too many
 * arguments), made here so that every usage error has one wording, ours,
 * with the command's usage line; and help text that says what happens.
 */
import type { CAC, Command } from 'cac';
import { UsageError } from '../errors.js';
import { closest } from '../text.js';

/**
 * The one form of a usage error: `rootfs: CMD: what is wrong; usage: LINE`
 * (main.ts adds the `rootfs: `). main.ts puts every usage error of a
 * command in it; the few met before a command is known are made here
 * (without CMD when no command was named: `rootfs --bogus`).
 */
export function usageError(command: string | undefined, what: string, usage: string): UsageError {
  return new UsageError(`${command === undefined ? '' : `${command}: `}${what}; usage: ${usage}`);
}

/** A usage error thrown while `command` ran, in the one form. */
export function inUsageForm(cli: CAC, command: Command, err: UsageError): UsageError {
  return usageError(command.name, err.message, usageLine(cli, command));
}

/** " (did you mean X?)" when some of the candidates are close to what was typed, else "". */
export function didYouMean(typed: string, candidates: Iterable<string>): string {
  const close = closest(typed, candidates);
  return close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : '';
}

/** Throws the UsageError for what is wrong with the parsed command line, if anything. */
export function checkUsage(cli: CAC, command: Command): void {
  const fail = (what: string): never => {
    throw new UsageError(what);
  };
  const unknown = unknownOption(cli, command);
  if (unknown) fail(unknown);
  const known = [...cli.globalCommand.options, ...command.options];
  for (const option of known) {
    if (!option.required) continue;
    const value = cli.options[option.name.split('.', 1)[0]!];
    const negatable = known.some((other) => other.negated && other.names.includes(option.name));
    if (value === true || (value === false && !negatable)) fail(`${flagOf(option.rawName)} needs a value`);
  }
  const required = command.args.filter((arg) => arg.required);
  if (cli.args.length < required.length) fail(`missing ${required.slice(cli.args.length).map((arg) => `<${arg.value}>`).join(' ')}`);
  if (!command.args.some((arg) => arg.variadic) && cli.args.length > command.args.length) {
    const extra = cli.args.slice(command.args.length);
    fail(`too many arguments: ${extra.map((arg) => JSON.stringify(arg)).join(' ')}`);
  }
}

/** "unknown option --x (did you mean --y?)" for the first option neither rootfs nor the command (if any) takes. */
export function unknownOption(cli: CAC, command: Command | undefined): string | undefined {
  const known = [...cli.globalCommand.options, ...(command?.options ?? [])];
  for (const name of Object.keys(cli.options)) {
    if (name === '--' || known.some((option) => option.names.includes(name.split('.', 1)[0]!))) continue;
    const typed = name.length > 1 ? `--${kebab(name)}` : `-${name}`;
    // A one-letter option is a few edits from every other: only long ones get suggestions.
    const longNames = known.flatMap((option) => option.rawName.split(',').map((part) => part.trim().split(' ')[0]!)).filter((flag) => flag.startsWith('--'));
    return `unknown option ${typed}${typed.startsWith('--') ? didYouMean(typed, longNames) : ''}`;
  }
  return undefined;
}

/** `rootfs tag <source> <target> [options]`. */
export function usageLine(cli: CAC, command: Command): string {
  return `${cli.name} ${command.rawName}${command.options.length > 0 || cli.globalCommand.options.length > 0 ? ' [options]' : ''}`;
}

/**
 * cac shows a `--no-x` flag with "(default: true)": true is the default of x,
 * which the flag turns off, so the line reads as the opposite of what happens.
 */
export function fixHelp(sections: Array<{ title?: string; body: string }>): Array<{ title?: string; body: string }> {
  return sections.map((section) => {
    if (section.title === 'Options') return { ...section, body: section.body.replace(/^( +--no-\S+.*?) \(default: true\)$/gm, '$1').replace(/ +$/gm, '') };
    // cac repeats "$ rootfs CMD --help" once per command: one line says it.
    if (section.title?.startsWith('For more info')) return { title: 'For more info', body: '  $ rootfs COMMAND --help    (or rootfs help COMMAND; rootfs image --help for docker\'s image spellings)' };
    return section;
  });
}

/** "--foo <x>" of a rawName such as "-o, --foo <x>". */
function flagOf(rawName: string): string {
  return rawName.split(',').map((part) => part.trim()).at(-1)!.split(' ')[0]!;
}

/** cac reports camelCase names (see disguiseForCac); users typed them dashed. */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
