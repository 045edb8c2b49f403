/**
 * Shape checks for the JSON documents the store reads back: index.json,
 * manifests, oci-layout. They may come from other tools or a damaged disk, and
 * a digest from them names a file, so each is checked before it is used.
 */
import { InvalidInputError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import type { Descriptor, Index, Manifest, OciLayoutFile } from '../oci/types.js';

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
  return value as Descriptor;
}

export function parseIndex(value: unknown, where: string): Index {
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.manifests)) throw new InvalidInputError(where, 'not an OCI image index (schemaVersion 2 with a manifests array)');
  value.manifests.forEach((entry, i) => checkDescriptor(entry, `${where}: manifests[${i}]`));
  return value as Index;
}

export function parseManifest(value: unknown, where: string): Manifest {
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.layers)) throw new InvalidInputError(where, 'not an image manifest (schemaVersion 2 with config and layers)');
  checkDescriptor(value.config, `${where}: config`);
  value.layers.forEach((layer, i) => checkDescriptor(layer, `${where}: layers[${i}]`));
  return value as Manifest;
}

export function parseOciLayout(text: string, where: string): OciLayoutFile {
  const value = parseJson(text, where);
  if (!isObject(value) || typeof value.imageLayoutVersion !== 'string') throw new InvalidInputError(where, 'not an oci-layout file (no imageLayoutVersion)');
  if (!value.imageLayoutVersion.startsWith('1.')) throw new InvalidInputError(where, `unsupported imageLayoutVersion ${value.imageLayoutVersion}`);
  return value as unknown as OciLayoutFile;
}

/** Every descriptor-shaped object inside a JSON document: how gc follows media types it does not know. */
export function descriptorsIn(value: unknown, out: Descriptor[] = []): Descriptor[] {
  if (Array.isArray(value)) {
    for (const item of value) descriptorsIn(item, out);
  } else if (isObject(value)) {
    if (typeof value.mediaType === 'string' && typeof value.digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(value.digest) && typeof value.size === 'number') out.push(value as Descriptor);
    for (const child of Object.values(value)) descriptorsIn(child, out);
  }
  return out;
}
