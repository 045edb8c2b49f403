/** How commands find the store: --store DIR, else $ROOTFS_STORE, else the per-user default. */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { SkippedFile } from '../pack/tree.js';
import { Store, defaultStoreDir } from '../store/store.js';
import type { GlobalOptions } from './command.js';

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

/** Opens (creating if needed) the store the options name; the caller closes it. readOnly: for commands that only read it. */
export function openStore(opts: GlobalOptions, options?: { create?: boolean; readOnly?: boolean }): Promise<Store> {
  return Store.open(storeDir(opts), options);
}

/** Runs fn with the store open, closing it whatever happens. */
export async function withStore<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>, options?: { create?: boolean; readOnly?: boolean }): Promise<T> {
  const store = await openStore(opts, options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** withStore for commands that only read: works on a store this user may read but not write, and changes nothing in it. */
export function withStoreReadOnly<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>, options?: { create?: boolean }): Promise<T> {
  return withStore(opts, fn, { ...options, readOnly: true });
}
