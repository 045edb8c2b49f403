/**
 * Pulling an image into the store: the one copy (engine/copy.ts) from the
 * registry (registry/image-ends.ts) to the store (store/image-ends.ts).
 * The manifest (or, with allPlatforms, the index with every manifest and
 * index under it), the configs, then each layer checked as it streams
 * (digest, size, diff_id, a tar that stays inside the root); nothing takes
 * a name in the store until every blob has been checked, and documents are
 * stored byte for byte as the registry sent them (Docker schema 2 media
 * types included), since their digests cover those bytes.
 */
import { UsageError } from '../errors.js';
import { copyImage, type MoveOptions } from '../engine/copy.js';
import { platformChoice } from '../oci/platform.js';
import { familiarName, type ImageReference } from '../oci/reference.js';
import type { MovedImage } from '../oci/image-ends.js';
import { StoreDestination } from '../store/image-ends.js';
import type { Store } from '../store/store.js';
import { RegistrySource } from './image-ends.js';
import { connect, type TransferOptions } from './transfer.js';

/** A pull: the move's options (engine/copy.ts MoveOptions: this machine's platform unless platform or allPlatforms, as skopeo copy and docker pull do) and the connection's. */
export interface PullOptions extends TransferOptions, MoveOptions {
  /**
   * When neither target nor source has a tag (a pull by digest alone), keep
   * the image without a name (a nameless index.json entry, which gc keeps, as
   * `load` does for an untagged archive image) instead of refusing.
   */
  untagged?: boolean;
}

/** Pulls `source` (a full reference with a tag or digest) and tags it in the store as `target` (default: source's name). */
export async function pullImage(store: Store, source: ImageReference, target: ImageReference | undefined, options: PullOptions = {}): Promise<MovedImage> {
  const name = target ?? source;
  const untagged = options.untagged === true && target === undefined && source.tag === undefined;
  // For its refusal of both: an API caller gets it as the CLI does.
  platformChoice(options.platform, options.allPlatforms);
  if (!untagged && (name.tag === undefined || name.digest !== undefined)) throw new UsageError(`cannot store the pulled image as ${familiarName(name)}: give a name with a tag (rootfs pull SOURCE NAME:TAG)`);
  const client = await connect(source.registry, options);
  const registry = new RegistrySource(client, source.repository, options.onEvent);
  try {
    const top = await registry.resolve(source.digest ?? source.tag!);
    return await copyImage(registry, top, new StoreDestination(store), { ...options, name: familiarName(source), tags: untagged ? [] : [name] });
  } finally {
    registry.close();
  }
}
