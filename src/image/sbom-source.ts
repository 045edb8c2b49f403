/**
 * What `rootfs sbom SOURCE` reads: an image unless SOURCE is a path on this
 * machine (as diff's arguments), a directory or a tarball read through the
 * caller's tree options. Attaching needs an image; tree options need a tree.
 */
import { UsageError } from '../errors.js';
import { openTree, pathKind, type TreeChoice } from './tree-input.js';
import type { Store } from '../store/store.js';
import { imageSbom, treeSbom, type SbomRequest, type SbomResult } from '../sbom/image.js';

export interface SbomSourceOptions extends SbomRequest {
  /** For a directory or tarball. */
  tree: TreeChoice;
  /** Some tree option was given: refused for an image, to which none applies. */
  treeOptionsGiven?: boolean;
  /** Runs fn with the store open, readOnly unless the SBOM is to be attached; only called for an image. */
  withStore<T>(readOnly: boolean, fn: (store: Store) => Promise<T>): Promise<T>;
}

export async function sbomOf(source: string, options: SbomSourceOptions): Promise<SbomResult> {
  const { tree, treeOptionsGiven, withStore, ...request } = options;
  if (pathKind(source) !== 'none') {
    if (request.attach) throw new UsageError(`--attach needs an image in the store; '${source}' is a path`);
    return treeSbom((await openTree(source, tree)).members, source, request);
  }
  if (treeOptionsGiven) throw new UsageError(`--preset and --exclude apply to a directory or tarball; '${source}' is an image`);
  return withStore(!request.attach, (store) => imageSbom(store, source, request));
}
