import { sha256 } from '../oci/digest.js';
import type { Store } from '../store/store.js';
import { parseReference, type ImageReference } from '../oci/reference.js';
import { MediaType, type Descriptor, type ImageConfig, type Manifest, type Platform } from '../oci/types.js';

export interface CommitOptions {
  /** The config JSON exactly as it should be stored: its digest is the image ID. */
  config: Buffer;
  configMediaType?: string;
  /** Layer blobs, base first, already in the store. */
  layers: Descriptor[];
  tags: ImageReference[];
  annotations?: Record<string, string>;
}

/**
 * The last step of every command that makes an image (import, load, squash):
 * config and manifest blobs into the store, then the tags, in that order, so
 * that a tag never points at something missing. An image without tags gets
 * an entry without a name (docker's `<none>`), so gc keeps it and its ID works.
 */
export async function commitImage(store: Store, options: CommitOptions): Promise<Descriptor> {
  await store.putBlob(options.config);
  const { bytes, descriptor } = imageManifest(options);
  await store.putBlob(bytes);
  for (const tag of options.tags) await store.tag(tag, descriptor);
  if (options.tags.length === 0) await store.addUntagged(descriptor);
  return descriptor;
}

/** The manifest an image made here gets around its config and layers (the store's own, and a classic docker-archive's on load), and its descriptor with the config's platform. */
export function imageManifest(options: Omit<CommitOptions, 'tags'>): { bytes: Buffer; descriptor: Descriptor } {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: options.configMediaType ?? MediaType.ImageConfig, digest: sha256(options.config), size: options.config.length },
    layers: options.layers.map(({ mediaType, digest, size, annotations }) => ({ mediaType, digest, size, ...(annotations ? { annotations } : {}) })),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const descriptor: Descriptor = { mediaType: MediaType.ImageManifest, digest: sha256(bytes), size: bytes.length };
  const platform = platformOf(JSON.parse(options.config.toString('utf8')) as ImageConfig);
  if (platform) descriptor.platform = platform;
  return { bytes, descriptor };
}

function platformOf(config: ImageConfig): Platform | undefined {
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
  const platform: Platform = { architecture: config.architecture, os: config.os };
  if (typeof config.variant === 'string') platform.variant = config.variant;
  return platform;
}


/**
 * The tag a command that makes an image from REF gives the result when no new
 * name is given: the name REF was found by, if it is a tag (not an ID, a
 * digest or name@digest), as docker's commands do.
 */
export function ownTag(name: string | undefined): ImageReference[] {
  if (name === undefined) return [];
  const ref = parseReference(name);
  return ref.digest === undefined ? [ref] : [];
}
