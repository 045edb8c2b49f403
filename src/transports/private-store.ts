/**
 * A store of a copy's own: a private store in a fresh directory, removed
 * afterwards (and on interrupt), for a copy between two ends that are not
 * the user's store.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { makeDirectory } from '../io/durable.js';
import { refuseStoreDestination } from '../io/output.js';
import { freshTempName, removeOnInterrupt } from '../io/temp.js';
import { Store } from '../store/store.js';

/**
 * fn with a store of its own in a fresh directory beside the output it is
 * for (on its file system, so blobs are renamed across), else in $TMPDIR;
 * removed afterwards (and on interrupt). An output the output layer would
 * refuse (inside an image store) is refused here, before anything is made.
 */
export async function withPrivateStore<T>(beside: string | undefined, fn: (store: Store) => Promise<T>): Promise<T> {
  if (beside !== undefined) await refuseStoreDestination(beside);
  return withPrivateDirectory(beside !== undefined ? dirname(beside) : tmpdir(), (dir) => withOpenStore(dir, fn));
}

/** fn with a fresh directory under parent, removed afterwards (and on interrupt). */
async function withPrivateDirectory<T>(parent: string, fn: (dir: string) => Promise<T>): Promise<T> {
  await makeDirectory(parent);
  const dir = await freshTempName(parent, '.rootfs-copy');
  const release = removeOnInterrupt(dir);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
    release();
  }
}

async function withOpenStore<T>(dir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(dir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
