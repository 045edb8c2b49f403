/**
 * `--change` instructions, as `docker import -c` and `docker commit -c` take
 * them: Dockerfile instruction lines applied to an image config. The parsing
 * follows Docker's builder (moby/buildkit dockerfile parser): shell-style
 * words with quotes and escapes, `$VAR`/`${VAR}` expanded from the ENV set so
 * far, JSON ("exec") and shell forms for CMD/ENTRYPOINT.
 */
import { UsageError } from '../errors.js';
import type { ContainerConfig, HealthConfig } from '../oci/types.js';

/** The instructions docker import accepts in --change (others make no sense without a build). */
const allowed = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'] as const;
type Instruction = (typeof allowed)[number];

/**
 * The instructions checked before anything is read or written, so that a
 * malformed one is a usage error at once, not after a layer is stored: what
 * makes one malformed does not depend on the config it is applied to.
 */
export function checkChanges(changes: string[]): string[] {
  applyChanges({}, changes);
  return changes;
}

/** Applies the instructions in order to a copy of `base`; throws UsageError naming the bad instruction. */
export function applyChanges(base: ContainerConfig, changes: string[]): ContainerConfig {
  const config: ContainerConfig = structuredClone(base);
  for (const change of changes) {
    const line = change.trim();
    const match = /^(\S+)\s*([\s\S]*)$/.exec(line);
    if (!match) throw new UsageError(`--change: empty instruction`);
    const keyword = match[1]!.toUpperCase();
    const rest = match[2]!.trim();
    if (!(allowed as readonly string[]).includes(keyword)) {
      throw new UsageError(`--change '${line}': ${keyword} is not a valid change instruction (valid: ${allowed.join(', ')})`);
    }
    try {
      applyOne(config, keyword as Instruction, rest);
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`--change '${line}': ${err.message}`);
      throw err;
    }
  }
  return config;
}

function applyOne(config: ContainerConfig, instruction: Instruction, rest: string): void {
  const env = envMap(config.Env);
  switch (instruction) {
    case 'CMD':
      config.Cmd = commandForm(rest);
      return;
    case 'ENTRYPOINT':
      config.Entrypoint = commandForm(rest);
      return;
    case 'ENV': {
      const pairs = keyValues(rest, env, 'ENV');
      const list = config.Env ?? [];
      for (const [key, value] of pairs) {
        const existing = list.findIndex((item) => item.slice(0, item.indexOf('=')) === key);
        if (existing >= 0) list[existing] = `${key}=${value}`;
        else list.push(`${key}=${value}`);
        env.set(key, value);
      }
      config.Env = list;
      return;
    }
    case 'LABEL': {
      const labels = (config.Labels = keyedMap(config.Labels));
      for (const [key, value] of keyValues(rest, env, 'LABEL')) labels[key] = value;
      return;
    }
    case 'EXPOSE': {
      const ports = (config.ExposedPorts = keyedMap(config.ExposedPorts));
      const words = shellWords(rest, env);
      if (words.length === 0) throw new UsageError('EXPOSE needs at least one port');
      for (const word of words) for (const port of expandPortSpec(word)) ports[port] = {};
      return;
    }
    case 'USER': {
      const words = shellWords(rest, env);
      if (words.length !== 1) throw new UsageError('USER takes exactly one argument: user[:group]');
      config.User = words[0]!;
      return;
    }
    case 'VOLUME': {
      const volumes = (config.Volumes = keyedMap(config.Volumes));
      const paths = jsonArray(rest) ?? shellWords(rest, env);
      if (paths.length === 0) throw new UsageError('VOLUME needs at least one path');
      for (const path of paths) {
        if (path.trim() === '') throw new UsageError('VOLUME paths must not be empty');
        volumes[path] = {};
      }
      return;
    }
    case 'WORKDIR': {
      const words = shellWords(rest, env);
      if (words.length !== 1) throw new UsageError('WORKDIR takes exactly one path');
      const dir = words[0]!;
      // A relative WORKDIR is relative to the previous one, as in a Dockerfile.
      config.WorkingDir = dir.startsWith('/') ? dir : `${(config.WorkingDir ?? '/').replace(/\/$/, '')}/${dir}`;
      return;
    }
    case 'STOPSIGNAL': {
      const words = shellWords(rest, env);
      if (words.length !== 1 || !/^(SIG[A-Z0-9+-]+|[A-Z0-9+-]+|\d+)$/.test(words[0]!)) {
        throw new UsageError('STOPSIGNAL takes one signal name or number (e.g. SIGTERM, 15)');
      }
      config.StopSignal = words[0]!;
      return;
    }
    case 'ONBUILD': {
      const trigger = /^(\S+)/.exec(rest)?.[1]?.toUpperCase();
      if (!trigger) throw new UsageError('ONBUILD needs an instruction');
      if (trigger === 'ONBUILD' || trigger === 'FROM' || trigger === 'MAINTAINER') {
        throw new UsageError(`${trigger} is not allowed as an ONBUILD trigger`);
      }
      (config.OnBuild ??= []).push(rest);
      return;
    }
    case 'HEALTHCHECK':
      config.Healthcheck = healthcheck(rest);
      return;
  }
}

/**
 * A copy of a map whose keys come from users or input (labels, volumes,
 * annotations) without a prototype: `__proto__` is then a key like any
 * other, not a setter that drops it.
 */
export function keyedMap<T>(entries?: Record<string, T> | null): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries);
}

function envMap(list: string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq > 0) map.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return map;
}

/** The exec form when the text is a JSON array of strings, else the shell form `/bin/sh -c TEXT`. */
function commandForm(text: string): string[] {
  if (text === '') throw new UsageError('needs a command');
  return jsonArray(text) ?? ['/bin/sh', '-c', text];
}

/**
 * The exec form: text starting with `[` must be a JSON array of strings.
 * Docker runs text that only looks like JSON as a shell command (`CMD [`
 * becomes `/bin/sh -c [`); a flag that says less than it seems to is refused.
 */
function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${text} is not a JSON array of strings (${(err as Error).message}); for the shell form, do not start with [`);
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new UsageError(`${text} is not a JSON array of strings`);
  return value;
}

/** `K=V K2="v 2"`, or the legacy `K value with spaces` when the first word has no '='. */
function keyValues(text: string, env: Map<string, string>, instruction: string): Array<[string, string]> {
  const first = /^(\S+)/.exec(text)?.[1];
  if (!first) throw new UsageError(`${instruction} needs at least one key=value`);
  if (!first.includes('=')) {
    const value = text.slice(first.length).trim();
    if (value === '') throw new UsageError(`${instruction} ${first} needs a value (use ${first}=VALUE)`);
    return [[first, shellWords(value, env, true).join('')]];
  }
  return shellWords(text, env).map((word) => {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new UsageError(`${instruction}: '${word}' is not key=value`);
    return [word.slice(0, eq), word.slice(eq + 1)];
  });
}

/**
 * Splits text into words the way the Dockerfile parser does: whitespace
 * separates words; single quotes are literal; double quotes keep spaces and
 * expand variables; a backslash escapes the next character. With
 * `keepSpaces`, whitespace outside quotes is kept (one word): the legacy
 * `ENV K value with spaces` form.
 */
export function shellWords(text: string, env: Map<string, string>, keepSpaces = false): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const expand = (): void => {
    const { value, end } = expandVariable(text, i, env);
    word += value;
    inWord = true;
    i = end;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c) && !keepSpaces) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[i + 1];
      inWord = true;
      i += 2;
    } else if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) throw new UsageError('unmatched single quote');
      word += text.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (c === '"') {
      inWord = true;
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length && '"\\$'.includes(text[i + 1]!)) {
          word += text[i + 1];
          i += 2;
        } else if (text[i] === '$') expand();
        else word += text[i++];
      }
      if (i >= text.length) throw new UsageError('unmatched double quote');
      i++;
    } else if (c === '$') expand();
    else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` starting at text[start] === '$'. */
function expandVariable(text: string, start: number, env: Map<string, string>): { value: string; end: number } {
  const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}/.exec(text.slice(start));
  if (braced) {
    const [whole, name, op, word] = braced;
    const current = env.get(name!);
    let value = current ?? '';
    if (op === '-') value = current ? current : word!;
    else if (op === '+') value = current ? word! : '';
    return { value, end: start + whole.length };
  }
  const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(start));
  if (plain) return { value: env.get(plain[1]!) ?? '', end: start + plain[0].length };
  return { value: '$', end: start + 1 };
}

/** `80`, `80/udp`, `8000-8002/tcp` → the port/proto keys of ExposedPorts. */
function expandPortSpec(spec: string): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!match) throw new UsageError(`invalid port '${spec}' (expected PORT[-PORT][/tcp|udp|sctp])`);
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  const proto = (match[3] ?? 'tcp').toLowerCase();
  if (low < 1 || high > 65535 || high < low) throw new UsageError(`invalid port range '${spec}'`);
  const ports: string[] = [];
  for (let port = low; port <= high; port++) ports.push(`${port}/${proto}`);
  return ports;
}

const healthFlags: Record<string, 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval' | 'Retries'> = {
  interval: 'Interval',
  timeout: 'Timeout',
  'start-period': 'StartPeriod',
  'start-interval': 'StartInterval',
  retries: 'Retries',
};

/** `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D …] CMD command` (exec or shell form). */
function healthcheck(text: string): HealthConfig {
  if (/^NONE$/i.test(text)) return { Test: ['NONE'] };
  const health: HealthConfig = {};
  let rest = text;
  for (;;) {
    const flag = /^--([a-z-]+)=(\S+)\s*/.exec(rest);
    if (!flag) break;
    const field = healthFlags[flag[1]!];
    if (!field) throw new UsageError(`unknown HEALTHCHECK flag --${flag[1]}`);
    if (field === 'Retries') {
      if (!/^\d+$/.test(flag[2]!)) throw new UsageError(`--retries must be a whole number, not '${flag[2]}'`);
      health.Retries = Number(flag[2]);
    } else health[field] = parseDuration(flag[2]!);
    rest = rest.slice(flag[0].length);
  }
  const cmd = /^CMD\s+([\s\S]+)$/i.exec(rest);
  if (!cmd) throw new UsageError('HEALTHCHECK needs NONE or CMD followed by a command');
  const exec = jsonArray(cmd[1]!.trim());
  health.Test = exec ? ['CMD', ...exec] : ['CMD-SHELL', cmd[1]!.trim()];
  return health;
}

const durationUnits: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds, as Docker stores health check times. */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new UsageError(`invalid duration '${text}' (e.g. 30s, 1m30s, 500ms)`);
  }
  return Math.round(parts.reduce((sum, [, value, unit]) => sum + Number(value) * durationUnits[unit!]!, 0));
}
