/** How commands find the store: --store DIR, else $ROOTFS_STORE, else the per-user default. */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { SkippedFile } from '../pack/tree.js';
import { Store, defaultStoreDir } from '../store/store.js';
import type { GlobalOptions } from './command.js';
import { formatBytes, writeError } from './report.js';

export function storeDir(opts: GlobalOptions): string {
  return opts.store ? String(opts.store) : defaultStoreDir();
}

/**
 * The store these options name, as a tree walk leaves it out (pack does not
 * open it: `pack ROOT | import -` must not put the store's blobs, or the one
 * being written, into the new image). A store not made yet is left out by
 * its path, for the other end of the pipe may make it during the walk.
 */
export function storeSkip(opts: GlobalOptions): SkippedFile {
  const dir = resolve(storeDir(opts));
  const note = 'the rootfs store in use; left out';
  try {
    const { dev, ino } = statSync(dir, { bigint: true });
    return { identity: { dev, ino }, note };
  } catch {
    try {
      const parent = realpathSync(dirname(dir), { encoding: 'buffer' });
      return { path: Buffer.concat([parent.length === 1 ? Buffer.alloc(0) : parent, Buffer.from(`/${basename(dir)}`)]), note };
    } catch {
      return { path: Buffer.from(dir), note };
    }
  }
}

/**
 * Opens the store the options name; the caller closes it. A command that
 * writes creates a missing store; readOnly (a command that only reads) never
 * does: Store.open decides, for every command alike.
 */
async function openStore(opts: GlobalOptions, options?: { readOnly?: boolean }): Promise<Store> {
  const store = await Store.open(storeDir(opts), options);
  // A reader may not remove what killed commands left (writers do): it says so, once, and how to reclaim it.
  if (store.leftovers.count > 0 && !opts.quiet) writeError(`${formatBytes(store.leftovers.bytes)} of leftovers from killed commands: rootfs gc`);
  return store;
}

/** Runs fn with the store open, closing it whatever happens; a store it created goes again if fn fails before it holds an image. */
export async function withStore<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>, options?: { readOnly?: boolean }): Promise<T> {
  const store = await openStore(opts, options);
  let result: T;
  try {
    result = await fn(store);
  } catch (err) {
    await store.close({ failed: true });
    throw err;
  }
  await store.close();
  return result;
}

/** withStore for commands that only read: works on a store this user may read but not write, changes nothing in it, and creates none. */
export function withStoreReadOnly<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  return withStore(opts, fn, { readOnly: true });
}
