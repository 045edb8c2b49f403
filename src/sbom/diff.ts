/**
 * `rootfs diff A B --packages`: the packages added, removed and changed
 * (another version) from one inventory to the next, a package being its
 * type, name and architecture (libc6:amd64 and libc6:i386 are two).
 */
import { compareText, type InstalledPackage, type Inventory } from './types.js';

export interface PackageChange {
  kind: 'A' | 'C' | 'D';
  type: InstalledPackage['kind'];
  name: string;
  arch?: string;
  /** The version in A (changed, removed). */
  from?: string;
  /** The version in B (added, changed). */
  to?: string;
}

export function diffPackages(a: Inventory, b: Inventory): PackageChange[] {
  const key = (p: InstalledPackage) => `${p.kind}\0${p.name}\0${p.arch ?? ''}`;
  const before = new Map(a.packages.map((p) => [key(p), p]));
  const after = new Map(b.packages.map((p) => [key(p), p]));
  const changes: PackageChange[] = [];
  const base = (p: InstalledPackage) => ({ type: p.kind, name: p.name, ...(p.arch ? { arch: p.arch } : {}) });
  for (const [k, old] of before) {
    const now = after.get(k);
    if (!now) changes.push({ kind: 'D', ...base(old), from: old.version });
    else if (now.version !== old.version) changes.push({ kind: 'C', ...base(old), from: old.version, to: now.version });
  }
  for (const [k, now] of after) if (!before.has(k)) changes.push({ kind: 'A', ...base(now), to: now.version });
  return changes.sort((x, y) => compareText(x.name, y.name) || compareText(x.arch ?? '', y.arch ?? '') || compareText(x.type, y.type));
}
