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
import { layerCompression, type Descriptor, type Digest, type Index, type Manifest, type OciLayoutFile } from './types.js';

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
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.manifests)) throw new InvalidInputError(where, 'not an OCI image index (schemaVersion 2 with a manifests array)');
  value.manifests.forEach((entry, i) => checkDescriptor(entry, `${where}: manifests[${i}]`));
  checkAnnotations(value.annotations, where);
  checkMediaType(value.mediaType, where);
  return value as Index;
}

export function parseManifest(value: unknown, where: string): Manifest {
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.layers)) throw new InvalidInputError(where, 'not an image manifest (schemaVersion 2 with config and layers)');
  checkDescriptor(value.config, `${where}: config`);
  value.layers.forEach((layer, i) => checkDescriptor(layer, `${where}: layers[${i}]`));
  checkAnnotations(value.annotations, where);
  checkMediaType(value.mediaType, where);
  if (value.subject !== undefined) checkDescriptor(value.subject, `${where}: subject`);
  return value as Manifest;
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
