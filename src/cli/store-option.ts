/** How commands find the store: --store DIR, else $ROOTFS_STORE, else the per-user default. */
import { Store, defaultStoreDir } from '../store/store.js';
import type { GlobalOptions } from './command.js';

export function storeDir(opts: GlobalOptions): string {
  return opts.store ? String(opts.store) : defaultStoreDir();
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
