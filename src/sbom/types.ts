/**
 * What a root's package databases say is installed, whatever the format: the
 * readers (dpkg.ts, apk.ts, rpm-*.ts, os-release.ts) produce it, the writers
 * (spdx.ts, cyclonedx.ts) and `diff --packages` consume it.
 */
export type PackageKind = 'deb' | 'rpm' | 'apk';

export interface InstalledPackage {
  kind: PackageKind;
  name: string;
  /** As the package manager shows it: deb and apk as recorded, rpm `[epoch:]version-release`. */
  version: string;
  /** rpm only: the epoch, when the header has one (purl carries it as a qualifier, not in the version). */
  epoch?: number;
  arch?: string;
  /** The license as the database records it (rpm, apk); dpkg records none. */
  license?: string;
  /** The source package: dpkg's Source, rpm's SOURCERPM, apk's origin. */
  source?: string;
}

/** /etc/os-release, the fields an SBOM names the distribution by. */
export interface OperatingSystem {
  id: string;
  versionId?: string;
  name?: string;
  prettyName?: string;
  versionCodename?: string;
}

export interface Inventory {
  os?: OperatingSystem;
  /** Sorted by kind, name, version, arch: the same tree gives the same list. */
  packages: InstalledPackage[];
  /** The database files read, as paths in the tree. */
  databases: string[];
  /** One per database that could not be read in full, naming the file: a bad database never fails the command. */
  warnings: string[];
}

export function comparePackages(a: InstalledPackage, b: InstalledPackage): number {
  return compareText(a.kind, b.kind) || compareText(a.name, b.name) || compareText(a.version, b.version) || compareText(a.arch ?? '', b.arch ?? '');
}

/** Code-unit order, the same on every machine (localeCompare is not). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
