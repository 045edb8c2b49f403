/**
 * `docker://` as a save destination or load source, and `load --push`: which
 * image goes where. The transfers themselves are pullImage and pushImage;
 * this module only turns save/load arguments into their calls.
 */
import { UsageError } from '../errors.js';
import { familiarName, fullName, parseReference, type ImageReference } from '../oci/reference.js';
import type { Descriptor, Platform } from '../oci/types.js';
import { pullImage, type PullOptions } from '../registry/pull.js';
import { destinationOn } from '../registry/push.js';
import type { Store } from '../store/store.js';
import type { RegistryAddress } from './address.js';
import type { MovedImage } from '../oci/image-ends.js';
import type { LoadResult } from './load.js';
import { findImage, resolveImage } from '../store/resolve.js';

/** One pushImage call: `source` (a store name or an index.json entry) to `destination`. */
export interface PlannedPush {
  source: string | Descriptor;
  /** The store name it was found under, for messages. */
  name: string;
  destination: ImageReference;
}

/**
 * `load -i docker://HOST/REPO[:TAG][@DIGEST]`: pullImage, reported as a
 * load. The image is stored under the reference's name; with both a tag and
 * a digest it is pulled by digest and tagged with the tag; with a digest
 * alone it is kept untagged (and shown by image ID, as load does). Which
 * platforms come is pullImage's one rule: this machine's unless
 * options.platform or options.allPlatforms.
 */
export async function loadFromRegistry(store: Store, address: RegistryAddress, options: Omit<PullOptions, 'untagged'> = {}): Promise<LoadResult> {
  const source = address.reference;
  if (!source) throw new UsageError(`docker://${address.registry} names a registry but no image; load takes docker://${address.registry}/REPO[:TAG|@DIGEST]`);
  const target = source.tag !== undefined && source.digest !== undefined ? { registry: source.registry, repository: source.repository, tag: source.tag } : undefined;
  const pulled = await pullImage(store, source, target, { ...options, untagged: true });
  return { images: [pulled], fromStore: { layers: 0, bytes: 0 }, rebuilt: { layers: 0, bytes: 0 }, referrers: pulled.referrers };
}

/**
 * `save REF… -o docker://…`: with a repository, the one REF goes there;
 * with HOST alone, each REF goes to its own repository path and tag on HOST
 * (destinationOn), so it must have a name. With `platform`, that platform's
 * manifest is pushed instead of a whole multi-platform index.
 */
export async function planSave(store: Store, texts: string[], address: RegistryAddress, platform?: Platform): Promise<PlannedPush[]> {
  if (texts.length === 0) throw new UsageError('no images to save');
  if (address.reference && texts.length > 1) throw new UsageError(`docker://${fullName(address.reference)} names one image, but ${texts.length} are being saved (give docker://${address.registry} alone to push each under its own name)`);
  const plan: PlannedPush[] = [];
  for (const text of texts) {
    const source = platform ? (await resolveImage(store, text, platform)).manifestDescriptor : text;
    let destination = address.reference;
    if (!destination) {
      const name = await taggedName(store, text);
      if (!name) throw new UsageError(`${text} has no name to push under on ${address.registry}; give the destination (rootfs save ${text} -o docker://${address.registry}/REPO:TAG)`);
      destination = destinationOn(address.registry, name);
    }
    plan.push({ source, name: text, destination });
  }
  refuseCollisions(plan);
  return plan;
}

/**
 * `load --push HOST`: every tag of every loaded image goes to HOST under its
 * repository path without its registry domain (destinationOn:
 * "base:latest" → "HOST/base:latest", "reg:5000/ns/app:1.0" →
 * "HOST/ns/app:1.0"). Untagged images cannot be named there: they are
 * returned apart, for the caller to warn about.
 */
export function planLoadedPush(images: MovedImage[], host: string): { pushes: PlannedPush[]; untagged: MovedImage[] } {
  const pushes: PlannedPush[] = [];
  const untagged: MovedImage[] = [];
  for (const image of images) {
    if (image.tags.length === 0) untagged.push(image);
    for (const tag of image.tags) pushes.push({ source: image.descriptor, name: tag, destination: destinationOn(host, parseReference(tag)) });
  }
  refuseCollisions(pushes);
  return { pushes, untagged };
}

/** Two images landing on one name would leave the registry holding whichever went last. */
function refuseCollisions(plan: PlannedPush[]): void {
  const seen = new Map<string, string>();
  for (const { name, destination } of plan) {
    const key = familiarName(destination);
    const other = seen.get(key);
    if (other !== undefined && other !== name) throw new UsageError(`${other} and ${name} would both be pushed as ${key}; push them one at a time with rootfs push IMAGE DESTINATION`);
    seen.set(key, name);
  }
}

/** The name `text` designates in the store: the tag find() found it by (none for an image ID or a digest). */
async function taggedName(store: Store, text: string): Promise<ImageReference | undefined> {
  // find() chooses no platform, so an index that lacks this machine's is still found by its name.
  const { name } = await findImage(store, text);
  if (name === undefined) return undefined;
  const named = parseReference(name);
  return named.tag === undefined ? undefined : named;
}
