/**
 * Shape checks for the JSON documents the store reads back: index.json,
 * manifests, oci-layout. They may come from other tools or a damaged disk, and
 * a digest from them names a file, so each is checked before it is used:
 * every field the code reads has the type the spec gives it (annotations are
 * strings, a platform's fields are strings), so no document of the wrong
 * shape reaches code that trusts the types.
 */
import { InvalidInputError } from '../errors.js';
import { count } from '../text.js';
import { parseDigest } from './digest.js';
import { layerCompression, type ContainerConfig, type Descriptor, type Digest, type HistoryEntry, type ImageConfig, type Index, type Manifest, type OciLayoutFile } from './types.js';

/**
 * The bounds of an image document read from anywhere (docs/store.md
 * "Limits"): many times what a real image needs, so that a hostile one costs
 * at most this much memory and time, and code that recurses over a document
 * (JSON.stringify, structuredClone) cannot overflow the stack. The bytes of
 * a document are bounded where it is read (io/metadata.ts documentCaps).
 */
export const documentLimits = {
  /** Levels of nested arrays and objects in a manifest, index or config. */
  depth: 64,
  /** Layers of a manifest, and so diff_ids of a config (Docker and podman stop at 127 and 500). */
  layers: 4096,
  /** History entries of a config: its layers and the empty_layer entries between them. */
  history: 16384,
} as const;

export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(where, `malformed JSON: ${(err as Error).message}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function checkDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw new InvalidInputError(where, 'descriptor is not an object');
  if (typeof value.mediaType !== 'string') throw new InvalidInputError(where, 'descriptor without a mediaType');
  parseDigest(value.digest, where);
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) throw new InvalidInputError(where, `descriptor size ${JSON.stringify(value.size)} is not a non-negative integer`);
  checkAnnotations(value.annotations, where);
  if (value.urls !== undefined && !(Array.isArray(value.urls) && value.urls.every((url) => typeof url === 'string'))) throw new InvalidInputError(where, 'descriptor urls is not a list of strings');
  if (value.platform !== undefined) {
    const platform = value.platform;
    if (!isObject(platform) || typeof platform.os !== 'string' || typeof platform.architecture !== 'string') throw new InvalidInputError(where, 'descriptor platform without os and architecture strings');
    for (const key of ['variant', 'os.version'] as const) {
      if (platform[key] !== undefined && typeof platform[key] !== 'string') throw new InvalidInputError(where, `descriptor platform ${key} is not a string`);
    }
    if (platform['os.features'] !== undefined && !(Array.isArray(platform['os.features']) && platform['os.features'].every((f) => typeof f === 'string'))) throw new InvalidInputError(where, 'descriptor platform os.features is not a list of strings');
  }
  return value as Descriptor;
}

/** Annotations are a map of strings to strings (OCI image spec); a number there would reach string code. */
function checkAnnotations(value: unknown, where: string): void {
  if (value === undefined) return;
  if (!isObject(value)) throw new InvalidInputError(where, 'annotations is not an object');
  for (const [key, text] of Object.entries(value)) {
    if (typeof text !== 'string') throw new InvalidInputError(where, `annotation ${JSON.stringify(key)} is ${JSON.stringify(text)}, not a string`);
  }
}

export function parseIndex(value: unknown, where: string): Index {
  checkDepth(value, where);
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.manifests)) throw new InvalidInputError(where, 'not an OCI image index (schemaVersion 2 with a manifests array)');
  value.manifests.forEach((entry, i) => checkDescriptor(entry, `${where}: manifests[${i}]`));
  checkAnnotations(value.annotations, where);
  checkMediaType(value.mediaType, where);
  return value as Index;
}

export function parseManifest(value: unknown, where: string): Manifest {
  checkDepth(value, where);
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.layers)) throw new InvalidInputError(where, 'not an image manifest (schemaVersion 2 with config and layers)');
  if (value.layers.length > documentLimits.layers) throw new InvalidInputError(where, `${value.layers.length} layers: more than the ${documentLimits.layers} an image may have`);
  checkDescriptor(value.config, `${where}: config`);
  value.layers.forEach((layer, i) => checkDescriptor(layer, `${where}: layers[${i}]`));
  checkAnnotations(value.annotations, where);
  checkMediaType(value.mediaType, where);
  if (value.subject !== undefined) checkDescriptor(value.subject, `${where}: subject`);
  return value as Manifest;
}

/**
 * An image config, every field we read checked for the type the spec gives
 * it (a config from another tool or a damaged disk must not reach code that
 * trusts the types), and its lists bounded by documentLimits.
 */
export function parseImageConfig(value: unknown, where: string): ImageConfig {
  checkDepth(value, where);
  if (!isObject(value) || !isObject(value.rootfs) || !Array.isArray(value.rootfs.diff_ids)) throw new InvalidInputError(where, 'not an image config (no rootfs.diff_ids)');
  const diffIds = value.rootfs.diff_ids;
  if (diffIds.length > documentLimits.layers) throw new InvalidInputError(where, `${diffIds.length} rootfs.diff_ids: more than the ${documentLimits.layers} layers an image may have`);
  diffIds.forEach((diffId, i) => parseDigest(diffId, `${where}: rootfs.diff_ids[${i}]`));
  for (const key of ['architecture', 'os', 'variant', 'os.version', 'created', 'author'] as const) checkString(value[key], `${where}: ${key}`);
  checkStrings(value['os.features'], `${where}: os.features`);
  if (value.history !== undefined) {
    if (!Array.isArray(value.history)) throw new InvalidInputError(where, 'history is not a list');
    if (value.history.length > documentLimits.history) throw new InvalidInputError(where, `${value.history.length} history entries: more than the ${documentLimits.history} an image may have`);
    value.history.forEach((entry, i) => checkHistoryEntry(entry, `${where}: history[${i}]`));
  }
  if (value.config !== undefined && value.config !== null) checkContainerConfig(value.config, `${where}: config`);
  return value as ImageConfig;
}

function checkHistoryEntry(entry: unknown, where: string): asserts entry is HistoryEntry {
  if (!isObject(entry)) throw new InvalidInputError(where, `${shown(entry)} is not a history entry (an object)`);
  for (const key of ['created', 'created_by', 'author', 'comment'] as const) checkString(entry[key], `${where}.${key}`);
  if (entry.empty_layer !== undefined && typeof entry.empty_layer !== 'boolean') throw new InvalidInputError(`${where}.empty_layer`, `${shown(entry.empty_layer)} is not true or false`);
}

/** The runtime config: the fields --change edits and inspect shows. Docker writes null for an unset list or map. */
function checkContainerConfig(config: unknown, where: string): asserts config is ContainerConfig {
  if (!isObject(config)) throw new InvalidInputError(where, 'is not an object');
  for (const key of ['User', 'WorkingDir', 'StopSignal'] as const) checkString(config[key], `${where}.${key}`);
  for (const key of ['Env', 'Cmd', 'Entrypoint', 'OnBuild', 'Shell'] as const) if (config[key] !== null) checkStrings(config[key], `${where}.${key}`);
  if (config.Labels !== undefined && config.Labels !== null) {
    if (!isObject(config.Labels)) throw new InvalidInputError(`${where}.Labels`, 'is not an object');
    for (const [key, text] of Object.entries(config.Labels)) checkString(text, `${where}.Labels[${JSON.stringify(key)}]`);
  }
  for (const key of ['ExposedPorts', 'Volumes'] as const) {
    const map = config[key];
    if (map !== undefined && map !== null && !(isObject(map) && Object.values(map).every(isObject))) throw new InvalidInputError(`${where}.${key}`, 'is not a map of objects');
  }
  if (config.Healthcheck !== undefined && config.Healthcheck !== null && !isObject(config.Healthcheck)) throw new InvalidInputError(`${where}.Healthcheck`, 'is not an object');
}

function checkString(value: unknown, where: string): void {
  if (value !== undefined && typeof value !== 'string') throw new InvalidInputError(where, `${shown(value)} is not a string`);
}

function checkStrings(value: unknown, where: string): void {
  if (value !== undefined && !(Array.isArray(value) && value.every((item) => typeof item === 'string'))) throw new InvalidInputError(where, 'is not a list of strings');
}

/** A value of the wrong type, as a message shows it: never a whole object or list from the document. */
function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value)?.slice(0, 40) ?? String(value);
}

/**
 * Refuses a document nested deeper than documentLimits.depth, by a walk with
 * its own stack: JSON.parse takes any depth, but what recurses over the
 * value later (JSON.stringify, structuredClone) overflows the call stack.
 */
function checkDepth(document: unknown, where: string): void {
  const stack: Array<{ value: unknown; depth: number }> = [{ value: document, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= documentLimits.depth) throw new InvalidInputError(where, `nested more than ${documentLimits.depth} levels deep`);
    for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
  }
}

function checkMediaType(value: unknown, where: string): void {
  if (value !== undefined && typeof value !== 'string') throw new InvalidInputError(where, `mediaType ${JSON.stringify(value)} is not a string`);
}

export function parseOciLayout(text: string, where: string): OciLayoutFile {
  const value = parseJson(text, where);
  if (!isObject(value) || typeof value.imageLayoutVersion !== 'string') throw new InvalidInputError(where, 'not an oci-layout file (no imageLayoutVersion)');
  if (!value.imageLayoutVersion.startsWith('1.')) throw new InvalidInputError(where, `unsupported imageLayoutVersion ${value.imageLayoutVersion}`);
  return value as unknown as OciLayoutFile;
}

/**
 * Every descriptor-shaped object inside a JSON document: how gc follows media
 * types it does not know. A walk with its own stack, not recursion: a blob of
 * a million nested arrays is data, and must not overflow the call stack.
 */
export function descriptorsIn(document: unknown): Descriptor[] {
  const out: Descriptor[] = [];
  const stack: unknown[] = [document];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
    } else if (isObject(value)) {
      if (typeof value.mediaType === 'string' && typeof value.digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(value.digest) && typeof value.size === 'number') out.push(value as Descriptor);
      const children = Object.values(value);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    }
  }
  return out;
}

/**
 * An image's layers against its config, wherever they are read whole (an
 * archive being loaded, a stored base being indexed): one layer per diff_id.
 */
export function checkDiffIdCount(where: string, layers: number, diffIds: readonly unknown[], configName: string): void {
  if (layers !== diffIds.length) throw new InvalidInputError(where, `${count(layers, 'layer')} for the ${diffIds.length} diff_ids of config ${configName}`);
}

/** The compression a layer's media type says; an unknown media type is refused. */
export function layerMediaTypeCompression(mediaType: string, where: string): 'none' | 'gzip' | 'zstd' {
  const declared = layerCompression(mediaType);
  if (declared === undefined) throw new InvalidInputError(where, `unsupported layer media type ${JSON.stringify(mediaType)}`);
  return declared;
}

/** Layer i's diff_id (the sha256 of its tar, as read) against the config's; `where` names the layer. */
export function checkDiffId(where: string, i: number, diffId: Digest, diffIds: readonly unknown[], configName: string): void {
  if (diffId !== diffIds[i]) throw new InvalidInputError(where, `diff_id ${diffId} does not match rootfs.diff_ids[${i}] ${String(diffIds[i])} of config ${configName}`);
}

/**
 * Whether a parsed manifest or index names a subject: a referrer (a signature,
 * an SBOM, an attestation), not an image. The one test, wherever index.json
 * entries are told apart.
 */
export function namesSubject(document: unknown): boolean {
  return typeof (document as { subject?: { digest?: unknown } } | null)?.subject?.digest === 'string';
}
