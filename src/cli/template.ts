/**
 * `--format` as docker takes it, for `images` and `inspect`: a small subset
 * of Go's text/template (`{{.Repository}}:{{.Tag}}`, `{{.Config.Env}}`,
 * `{{json .}}`, `{{join .RepoTags ","}}`, `{{.RepoTags | len}}`), plus
 * docker's `json` (one JSON document per item) and `table` (aligned columns
 * under a header, `\t` between them). Values print as Go prints them:
 * lists as `[a b]`, maps as `map[k:v]`, a missing key as `<no value>`.
 */
import { printable, UsageError } from '../errors.js';

type Value = unknown;
type Token = { kind: 'field'; path: string[] } | { kind: 'literal'; value: Value } | { kind: 'name'; name: string };
type Command = Token[];
type Part = string | Command[];

const functions: Record<string, (...args: Value[]) => Value> = {
  json: (value) => JSON.stringify(value ?? null),
  join: (list, separator) => (Array.isArray(list) ? list.map(show).join(String(separator)) : show(list)),
  index: (value, ...keys) => keys.reduce((current: Value, key) => (current !== null && typeof current === 'object' ? (current as Record<string, Value>)[String(key)] : undefined), value),
  len: (value) => (Array.isArray(value) || typeof value === 'string' ? value.length : value !== null && typeof value === 'object' ? Object.keys(value).length : 0),
  upper: (value) => show(value).toUpperCase(),
  lower: (value) => show(value).toLowerCase(),
  split: (value, separator) => show(value).split(String(separator)),
  truncate: (value, length) => show(value).slice(0, Number(length)),
};

/** A parsed --format: render() gives one item's text. */
export interface Template {
  render(item: object): string;
}

export function parseTemplate(text: string): Template {
  const parts = parse(text);
  return {
    // The template's own text may hold the tabs and newlines it asks for; a value from an image may not (a label with a newline would forge a line).
    render: (item) => parts.map((part) => (typeof part === 'string' ? part : printable(show(evaluate(part, item, text))))).join(''),
  };
}

/**
 * Formats the rows of a listing: `json`, `table` (the default table),
 * `table TEMPLATE`, or a TEMPLATE per row. `headers` names each field's
 * column as docker does (ID → "IMAGE ID"); it is also what the header row
 * of a table template is rendered from.
 */
export function formatRows(format: string, rows: object[], headers: Record<string, string>, defaultTable: string): string[] {
  if (format === 'json') return rows.map((row) => JSON.stringify(row));
  const table = format === 'table' || format.startsWith('table ');
  const body = format === 'table' ? defaultTable : table ? format.slice('table '.length) : format;
  const template = parseTemplate(unescape(body));
  const lines = rows.map((row) => template.render(row));
  if (!table) return lines;
  return alignColumns([template.render(headers), ...lines].map((line) => line.split('\t')));
}

/** Columns padded as docker's tabwriter does (minimum width 10, padding 3). */
export function alignColumns(table: string[][]): string[] {
  const columns = Math.max(...table.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, column) => Math.max(10, ...table.map((row) => (row[column]?.length ?? 0) + 3)));
  return table.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join(''));
}

/** The shell hands `\t` over as two characters; docker reads it as a tab (and `\n` as a newline). */
function unescape(text: string): string {
  return text.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

function parse(text: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf('{{', at);
    if (open < 0) {
      parts.push(text.slice(at));
      break;
    }
    if (open > at) parts.push(text.slice(at, open));
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw templateError(text, 'unclosed action (no "}}")');
    parts.push(parsePipeline(text.slice(open + 2, close).trim(), text));
    at = close + 2;
  }
  return parts;
}

function parsePipeline(action: string, text: string): Command[] {
  const commands: Command[] = [[]];
  const word = /\s*(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\|)|([^\s|"`]+))/gy;
  let match: RegExpExecArray | null;
  while (word.lastIndex < action.length && (match = word.exec(action)) !== null) {
    const [, quoted, raw, pipe, bare] = match;
    if (pipe) commands.push([]);
    else if (quoted !== undefined) commands.at(-1)!.push({ kind: 'literal', value: JSON.parse(`"${quoted}"`) as string });
    else if (raw !== undefined) commands.at(-1)!.push({ kind: 'literal', value: raw });
    else commands.at(-1)!.push(token(bare!, text));
  }
  if (word.lastIndex < action.length && action.slice(word.lastIndex).trim() !== '') throw templateError(text, `cannot parse ${JSON.stringify(action)}`);
  if (commands.some((command) => command.length === 0)) throw templateError(text, `empty command in {{${action}}}`);
  return commands;
}

function token(word: string, text: string): Token {
  if (word === '.') return { kind: 'field', path: [] };
  if (word.startsWith('.')) return { kind: 'field', path: word.slice(1).split('.') };
  if (/^-?\d+$/.test(word)) return { kind: 'literal', value: Number(word) };
  if (word === 'true' || word === 'false') return { kind: 'literal', value: word === 'true' };
  if (Object.hasOwn(functions, word)) return { kind: 'name', name: word };
  throw templateError(text, `function ${JSON.stringify(word)} not defined (there are ${Object.keys(functions).join(', ')})`);
}

function evaluate(pipeline: Command[], item: object, text: string): Value {
  let piped: { value: Value } | undefined;
  for (const command of pipeline) {
    const [head, ...rest] = command as [Token, ...Token[]];
    const args = rest.map((arg) => operand(arg, item, text));
    if (piped) args.push(piped.value);
    if (head.kind === 'name') piped = { value: functions[head.name]!(...args) };
    else if (args.length > 0) throw templateError(text, 'a value cannot take arguments');
    else piped = { value: operand(head, item, text) };
  }
  return piped!.value;
}

function operand(token: Token, item: object, text: string): Value {
  if (token.kind === 'literal') return token.value;
  if (token.kind === 'name') throw templateError(text, `${token.name} needs to come first in its command`);
  const [first, ...rest] = token.path;
  if (first === undefined) return item;
  // A typo in the first name is an error (docker: "can't evaluate field"); deeper keys are map keys, which may be absent.
  if (!Object.hasOwn(item, first)) throw templateError(text, `no field ${JSON.stringify(first)} (there are ${Object.keys(item).join(', ')})`);
  return rest.reduce((current: Value, key) => (current !== null && typeof current === 'object' ? (current as Record<string, Value>)[key] : undefined), (item as Record<string, Value>)[first]);
}

/** A value as Go's fmt prints it with %v. */
function show(value: Value): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(show).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, Value>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([key, inner]) => `${key}:${show(inner)}`).join(' ')}]`;
  }
  return String(value);
}

function templateError(text: string, why: string): UsageError {
  return new UsageError(`--format ${JSON.stringify(text)}: ${why}`);
}
