/**
 * Image references with Docker's grammar and normalisation
 * (github.com/distribution/reference: regexp.go, normalize.go), so that a
 * name means here what it means to `docker tag` and `docker pull`.
 */
import { UsageError } from '../errors.js';
import type { Digest } from './types.js';

/** A name a tag can be: name:tag, without a digest (a digest names content, it cannot be pointed elsewhere). */
export function isTagReference(ref: ImageReference): boolean {
  return ref.tag !== undefined && ref.digest === undefined;
}

export interface ImageReference {
  /** Registry host[:port]; "docker.io" when the name has none. */
  registry: string;
  /** Path below the registry, "library/" prefixed for official docker.io images. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

const defaultRegistry = 'docker.io';
const legacyDefaultRegistry = 'index.docker.io';
const officialPrefix = 'library/';
const nameTotalLengthMax = 255;

const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const host = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const referencePattern = new RegExp(`^((?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*)(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const anchoredDomain = new RegExp(`^${domainAndPort}$`);
const identifierPattern = /^[a-f0-9]{64}$/;

/**
 * Parses a reference the way `docker` does (ParseNormalizedNamed): a bare
 * name gets docker.io and, for one path component, library/; a reference
 * with neither tag nor digest gets :latest (so "base" is
 * docker.io/library/base:latest).
 */
export function parseReference(text: string): ImageReference {
  const invalid = (why: string): UsageError => new UsageError(`invalid image reference ${JSON.stringify(text)}: ${why}`);
  if (text === '') throw invalid('empty');
  if (identifierPattern.test(text)) throw invalid('a 64-character hexadecimal string is an image ID, not a name');

  const { registry, remainder } = splitRegistry(text);
  const tagSeparator = remainder.indexOf(':');
  const repositoryPart = tagSeparator >= 0 ? remainder.slice(0, tagSeparator) : remainder.split('@')[0]!;
  if (repositoryPart.toLowerCase() !== repositoryPart) throw invalid('repository name must be lowercase');

  const match = referencePattern.exec(`${registry}/${remainder}`);
  if (!match) throw invalid('not a valid name[:tag][@digest]');
  const [, name, tag, digest] = match as unknown as [string, string, string | undefined, string | undefined];
  if (name.length > nameTotalLengthMax) throw invalid(`repository name longer than ${nameTotalLengthMax} characters`);
  if (!anchoredDomain.test(registry)) throw invalid(`invalid registry host ${JSON.stringify(registry)}`);
  const badPort = portProblem(registry);
  if (badPort !== undefined) throw invalid(badPort);

  const ref: ImageReference = { registry, repository: name.slice(registry.length + 1) };
  if (digest !== undefined) {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw invalid('only sha256 digests of 64 lowercase hex characters are supported');
    ref.digest = digest as Digest;
  }
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined) ref.tag = 'latest';
  return ref;
}

/** A tag alone ("latest", "1.0", "deb"), as docker's grammar allows one. */
export function isTag(text: string): boolean {
  return new RegExp(`^${tagPattern}$`).test(text);
}

/**
 * A repository under localhost made from a file or directory name
 * ("My Layout.tar" → localhost/my-layout): what names an OCI layout's
 * images when its ref.names are tags alone. Undefined if nothing usable is left.
 */
export function localRepository(fileName: string): ImageReference | undefined {
  const stem = fileName.replace(/\.(?:tar(?:\.\w+)?|tgz|oci)$/i, '').toLowerCase();
  const component = stem.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return component === '' ? undefined : { registry: 'localhost', repository: component };
}

/**
 * What is wrong with a registry host's port, if anything: the grammar takes
 * any digits, but a URL cannot carry a port outside 1-65535, so it is said
 * where names are parsed rather than found by the HTTP client.
 */
export function portProblem(registry: string): string | undefined {
  const port = /:(\d+)$/.exec(registry)?.[1];
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535) ? undefined : `port ${port} of ${registry} is not from 1 to 65535`;
}

/** docker's splitDockerDomain: the first component is a registry only if it looks like a host. */
function splitRegistry(text: string): { registry: string; remainder: string } {
  const slash = text.indexOf('/');
  let registry: string;
  let remainder: string;
  const first = text.slice(0, slash);
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    registry = defaultRegistry;
    remainder = text;
  } else {
    registry = first;
    remainder = text.slice(slash + 1);
  }
  if (registry === legacyDefaultRegistry) registry = defaultRegistry;
  if (registry === defaultRegistry && !remainder.includes('/')) remainder = officialPrefix + remainder;
  return { registry, remainder };
}

function suffix(ref: ImageReference): string {
  return `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The repository as docker displays it: "base", "ns/app", "registry:5000/ns/app". */
export function familiarRepository(ref: ImageReference): string {
  if (ref.registry !== defaultRegistry) return `${ref.registry}/${ref.repository}`;
  const rest = ref.repository.slice(officialPrefix.length);
  return ref.repository.startsWith(officialPrefix) && !rest.includes('/') ? rest : ref.repository;
}

/** How docker displays a reference: "base:latest", "registry:5000/ns/app:1.0", "name@sha256:…". */
export function familiarName(ref: ImageReference): string {
  return familiarRepository(ref) + suffix(ref);
}

/** Whether two parsed references name the same repository ("base" and "docker.io/library/base:1.0" do). */
export function sameRepository(a: ImageReference, b: ImageReference): boolean {
  return a.registry === b.registry && a.repository === b.repository;
}

/** The one reference equality: same repository, tag and digest, after docker's normalisation ("base" is "docker.io/library/base:latest"). */
export function sameReference(a: ImageReference, b: ImageReference): boolean {
  return sameRepository(a, b) && a.tag === b.tag && a.digest === b.digest;
}

/** The fully qualified form: "docker.io/library/base:latest". */
export function fullName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${suffix(ref)}`;
}
