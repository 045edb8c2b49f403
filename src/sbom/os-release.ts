/**
 * /etc/os-release (or /usr/lib/os-release): KEY=value lines, values
 * optionally quoted with shell quoting (os-release(5)).
 */
import type { OperatingSystem } from './types.js';

export function parseOsRelease(text: string): OperatingSystem | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) fields.set(match[1]!, unquote(match[2]!));
  }
  const id = fields.get('ID') ?? 'linux';
  const os: OperatingSystem = { id };
  const copy = { versionId: 'VERSION_ID', name: 'NAME', prettyName: 'PRETTY_NAME', versionCodename: 'VERSION_CODENAME' } as const;
  for (const [key, field] of Object.entries(copy) as Array<[keyof typeof copy, string]>) {
    const value = fields.get(field);
    if (value) os[key] = value;
  }
  return fields.size > 0 ? os : undefined;
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
    const inner = value.slice(1, -1);
    return quote === '"' ? inner.replace(/\\(["\\`$])/g, '$1') : inner;
  }
  return value;
}
