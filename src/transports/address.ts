/**
 * Where images are read from or written to, spelled the way skopeo spells
 * its transports (`docker-archive:PATH[:name:tag]`, `oci:DIR[:ref]`,
 * `oci-archive:PATH[:ref]`), or a plain path whose format is found from its
 * content. `-` is stdin or stdout. `docker://HOST[/REPO[:TAG][@DIGEST]]` is
 * a registry (parseRegistryAddress), not an archive.
 */
import { printable, UsageError } from '../errors.js';
import { parseReference, portProblem, type ImageReference } from '../oci/reference.js';

/** The formats we write; `docker-legacy` is docker-archive without the OCI layout (docker save before 25). */
export const formatNames = ['docker-archive', 'docker-legacy', 'oci-archive', 'oci'] as const;
export type FormatName = (typeof formatNames)[number];

export interface ArchiveAddress {
  /** Undefined when the address was a plain path: detect it from content. */
  format: FormatName | undefined;
  path: string;
  /** docker-archive: a `name:tag` (or `@N`, the Nth image); oci: a ref.name annotation. */
  ref: string | undefined;
}

export function isFormatName(value: string): value is FormatName {
  return (formatNames as readonly string[]).includes(value);
}

/**
 * Where a save or copy writes, and in which format: the output's own
 * FORMAT: prefix, else --format (which must agree with it), else a docker
 * archive, as docker save writes; a layout is a directory, never stdout.
 */
export function outputAddress(output: string, formatFlag: string | undefined): ArchiveAddress & { format: FormatName } {
  const address = parseAddress(output);
  if (formatFlag !== undefined && !isFormatName(formatFlag)) throw new UsageError(`--format must be docker-archive, docker-legacy, oci-archive or oci, not '${formatFlag}'`);
  if (formatFlag !== undefined && address.format !== undefined && formatFlag !== address.format) throw new UsageError(`--format ${formatFlag} contradicts the output ${output}`);
  const format = address.format ?? formatFlag ?? 'docker-archive';
  if (address.path === '-' && format === 'oci') throw new UsageError('an oci layout is a directory; give it with -o oci:DIR');
  return { ...address, format };
}

/** Parses `FORMAT:PATH[:REF]` or a plain path. A plain path that contains a colon stays a path. */
export function parseAddress(text: string): ArchiveAddress {
  if (text === '') throw new UsageError('empty archive address');
  if (isRegistryAddress(text)) throw new UsageError(`${text} is a registry, not an archive`);
  const colon = text.indexOf(':');
  const prefix = colon < 0 ? '' : text.slice(0, colon);
  if (!isFormatName(prefix)) return { format: undefined, path: text, ref: undefined };
  const rest = text.slice(colon + 1);
  // skopeo splits at the first colon after the transport: paths with colons cannot be addressed this way, as there.
  const split = rest.indexOf(':');
  const path = split < 0 ? rest : rest.slice(0, split);
  const ref = split < 0 ? undefined : rest.slice(split + 1);
  if (path === '') throw new UsageError(`${text}: no path after '${prefix}:'`);
  if (ref === '') throw new UsageError(`${text}: empty reference after the path`);
  if (ref !== undefined && (prefix === 'oci' || prefix === 'oci-archive') && !refNamePattern.test(ref)) {
    throw new UsageError(`${printable(text)}: ${JSON.stringify(ref)} is not an OCI ref.name (components of letters and digits joined by one of - . _ : @ + or --, separated by /)`);
  }
  return { format: prefix, path, ref };
}

/** The image-layout spec's grammar for org.opencontainers.image.ref.name, which skopeo and umoci hold names to: no "..", no control characters. */
const refNameComponent = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const refNamePattern = new RegExp(`^${refNameComponent}(?:/${refNameComponent})*$`);

const registryTransport = 'docker://';

/** A registry, as `docker://` names it for save and load. */
export interface RegistryAddress {
  /** host[:port], as references name it ("docker.io" for Docker Hub). */
  registry: string;
  /** The image; undefined for `docker://HOST` alone (save: every image under its own repository path on HOST). */
  reference: ImageReference | undefined;
}

/** True for `docker://…`, skopeo's spelling of a registry image. */
export function isRegistryAddress(text: string): boolean {
  return text.startsWith(registryTransport);
}

/**
 * Parses `docker://HOST[:PORT]` or `docker://HOST[:PORT]/REPO[:TAG][@DIGEST]`
 * (no tag and no digest: `:latest`). Unlike skopeo, the registry host is
 * never implied: `docker://busybox` is a host named busybox, which is refused
 * as one (Docker Hub is `docker://docker.io/library/busybox`), so that the
 * first component always means the same thing.
 */
export function parseRegistryAddress(text: string): RegistryAddress {
  if (!isRegistryAddress(text)) throw new UsageError(`${text}: not a registry address (expected docker://HOST[:PORT][/REPO[:TAG]])`);
  const rest = text.slice(registryTransport.length);
  const slash = rest.indexOf('/');
  const registry = parseRegistryHost(slash < 0 ? rest : rest.slice(0, slash), text);
  if (slash < 0) return { registry, reference: undefined };
  return { registry, reference: parseReference(rest) };
}

/**
 * A registry host as an image reference takes it: `HOST[:PORT]` where HOST
 * has a dot, is `localhost`, or comes with a port (otherwise `HOST/app` would
 * mean Docker Hub's HOST/app, as docker reads it). `context` names the
 * argument in the error.
 */
export function parseRegistryHost(host: string, context = host): string {
  const invalid = new UsageError(`${context}: '${host}' is not a registry host (expected HOST[:PORT], where HOST has a dot, is localhost or has a port; Docker Hub is docker.io)`);
  if (host === '' || host.includes('/') || host.includes('@')) throw invalid;
  const badPort = portProblem(host);
  if (badPort !== undefined) throw new UsageError(`${context}: ${badPort}`);
  let ref: ImageReference;
  try {
    ref = parseReference(`${host}/probe`);
  } catch {
    throw invalid;
  }
  const normalised = host === 'index.docker.io' ? 'docker.io' : host;
  if (ref.registry !== normalised) throw invalid;
  return ref.registry;
}

const storeTransport = 'rootfs:';

/** Either side of `rootfs copy`: the store, an archive or layout, or a registry. */
export type TransportAddress = { kind: 'store'; ref: string } | { kind: 'archive'; address: ArchiveAddress & { format: FormatName } } | { kind: 'registry'; address: RegistryAddress };

/**
 * Parses a copy address as skopeo spells its transports (`oci:DIR[:REF]`,
 * `oci-archive:FILE[:REF]`, `docker-archive:FILE[:name:tag]`,
 * `docker://HOST/REPO:TAG`), plus `rootfs:REF` for the store. The transport
 * is never guessed here: a copy names both ends.
 */
export function parseTransportAddress(text: string): TransportAddress {
  if (text.startsWith(storeTransport)) {
    const ref = text.slice(storeTransport.length);
    if (ref === '') throw new UsageError(`${text}: no image after 'rootfs:' (rootfs:NAME[:TAG] or rootfs:ID)`);
    return { kind: 'store', ref };
  }
  if (isRegistryAddress(text)) return { kind: 'registry', address: parseRegistryAddress(text) };
  const address = parseAddress(text);
  if (address.format === undefined) throw new UsageError(`${text}: no transport; give one of rootfs:, docker://, ${formatNames.map((name) => `${name}:`).join(', ')}`);
  return { kind: 'archive', address: { ...address, format: address.format } };
}
