/**
 * Package URLs (github.com/package-url/purl-spec) as scanners match them:
 * pkg:deb/debian/NAME@VERSION?arch=…&distro=debian-12,
 * pkg:rpm/centos/NAME@VERSION-RELEASE?arch=…&distro=centos-7&epoch=N,
 * pkg:apk/alpine/NAME@VERSION?arch=…&distro=alpine-3.19.1.
 * The namespace is the distribution's os-release ID; without one, the
 * package manager's home distribution for deb and apk, none for rpm.
 */
import type { InstalledPackage, OperatingSystem } from './types.js';

const defaultNamespace: Record<InstalledPackage['kind'], string | undefined> = { deb: 'debian', apk: 'alpine', rpm: undefined };

export function packageUrl(pkg: InstalledPackage, os: OperatingSystem | undefined): string {
  const namespace = os?.id ?? defaultNamespace[pkg.kind];
  const version = pkg.kind === 'rpm' ? pkg.version.replace(/^\d+:/, '') : pkg.version;
  const qualifiers: Array<[string, string]> = [];
  if (pkg.arch) qualifiers.push(['arch', pkg.arch]);
  if (os?.versionId) qualifiers.push(['distro', `${os.id}-${os.versionId}`]);
  if (pkg.epoch !== undefined) qualifiers.push(['epoch', String(pkg.epoch)]);
  if (pkg.source && pkg.source !== pkg.name) qualifiers.push(['upstream', pkg.source]);
  const query = qualifiers.map(([key, value]) => `${key}=${encode(value)}`).join('&');
  return `pkg:${pkg.kind}/${namespace ? `${encode(namespace)}/` : ''}${encode(pkg.name)}@${encode(version)}${query ? `?${query}` : ''}`;
}

/** The purl of an image: pkg:oci/NAME@sha256%3A… (NAME the repository's last component, lower case). */
export function imageUrl(reference: string, digest: string): string {
  const repository = reference.replace(/[:@][^/]*$/, '');
  const name = repository.slice(repository.lastIndexOf('/') + 1).toLowerCase() || 'image';
  return `pkg:oci/${encode(name)}@${encode(digest)}`;
}

function encode(text: string): string {
  return encodeURIComponent(text);
}
