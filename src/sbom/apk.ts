/**
 * apk: /lib/apk/db/installed, one stanza per package of `X:value` lines. The
 * fields read: P name, V version, A architecture, L license, o origin (the
 * source package). The others (F/R/Z file lists, C checksum, T description…)
 * are skipped.
 */
import type { InstalledPackage } from './types.js';
import { stanzas } from './stanzas.js';

export async function readApkInstalled(path: string): Promise<InstalledPackage[]> {
  const packages: InstalledPackage[] = [];
  for await (const lines of stanzas(path)) {
    const fields = new Map<string, string>();
    for (const line of lines) if (line[1] === ':' && 'PVALo'.includes(line[0]!)) fields.set(line[0]!, line.slice(2));
    const name = fields.get('P');
    const version = fields.get('V');
    if (!name || !version) continue;
    const pkg: InstalledPackage = { kind: 'apk', name, version };
    const arch = fields.get('A');
    if (arch) pkg.arch = arch;
    const license = fields.get('L');
    if (license) pkg.license = license;
    const origin = fields.get('o');
    if (origin) pkg.source = origin;
    packages.push(pkg);
  }
  return packages;
}
