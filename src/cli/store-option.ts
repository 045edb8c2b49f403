/** How commands find the store: --store DIR, else $ROOTFS_STORE, else the per-user default. */
import { Store, defaultStoreDir } from '../store/store.js';
import type { GlobalOptions } from './main.js';

export function storeDir(opts: GlobalOptions): string {
  return opts.store ? String(opts.store) : defaultStoreDir();
}

/** Opens (creating if needed) the store the options name; the caller closes it. */
export function openStore(opts: GlobalOptions, options?: { create?: boolean }): Promise<Store> {
  return Store.open(storeDir(opts), options);
}

/** Runs fn with the store open, closing it whatever happens. */
export async function withStore<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>, options?: { create?: boolean }): Promise<T> {
  const store = await openStore(opts, options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
