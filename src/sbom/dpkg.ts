/**
 * dpkg: /var/lib/dpkg/status, and the one-stanza files of
 * /var/lib/dpkg/status.d/ that distroless images have instead (their
 * *.md5sums neighbours are not stanzas). A package counts when its Status
 * says installed (dpkg-query's db:Status-Status); status.d files carry no
 * Status and are all installed. dpkg records no license.
 */
import type { InstalledPackage } from './types.js';
import { stanzas } from './stanzas.js';

export async function readDpkgStatus(path: string, requireStatus: boolean): Promise<InstalledPackage[]> {
  const packages: InstalledPackage[] = [];
  for await (const lines of stanzas(path)) {
    const fields = new Map<string, string>();
    for (const line of lines) {
      if (line.startsWith(' ') || line.startsWith('\t')) continue; // a continuation of Description, Conffiles…
      const colon = line.indexOf(':');
      if (colon > 0) fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    const name = fields.get('package');
    const version = fields.get('version');
    const status = fields.get('status');
    if (!name || !version) continue;
    if (status === undefined ? requireStatus : status.split(/\s+/)[2] !== 'installed') continue;
    const pkg: InstalledPackage = { kind: 'deb', name, version };
    const arch = fields.get('architecture');
    if (arch) pkg.arch = arch;
    // "Source: glibc (2.36-9)" when the source's version differs from the binary's.
    const source = fields.get('source')?.split(/\s+/)[0];
    if (source) pkg.source = source;
    packages.push(pkg);
  }
  return packages;
}
