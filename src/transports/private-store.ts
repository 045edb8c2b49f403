/**
 * Stores of a copy's own: a private store in a fresh directory, removed
 * afterwards (and on interrupt), for a copy between two ends that are not
 * the user's store; and the images of a store with their layers
 * recompressed, for a sink that takes blobs as they are (a registry).
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { makeDirectory } from '../io/durable.js';
import { refuseStoreDestination } from '../io/output.js';
import { freshTempName, removeOnInterrupt } from '../io/temp.js';
import type { Platform } from '../oci/types.js';
import { Store } from '../store/store.js';
import { saveImages, type CompressionChoice } from './save.js';

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

export interface Conversion {
  compression: CompressionChoice;
  level?: number;
  platform?: Platform;
  onWarning?: (message: string) => void;
}

/**
 * fn on the images texts names with their layers recompressed: saved with
 * the conversion into a private OCI layout, which is a store, and named
 * there as here. For destinations that take blobs as they are (a registry):
 * the conversion is the pipeline's work, the sink only says what it wants.
 * Their referrers stay behind (their subjects' digests change), with save's warning.
 */
export async function withConverted<T>(store: Store, texts: string[], conversion: Conversion, fn: (converted: Store, texts: string[]) => Promise<T>): Promise<T> {
  return withPrivateDirectory(tmpdir(), async (layout) => {
    // save makes the layout (the name is fresh, not yet a directory); an OCI layout is a store, so it opens as one.
    const saved = await saveImages(store, texts, layout, {
      format: 'oci',
      compression: conversion.compression,
      ...(conversion.level !== undefined ? { level: conversion.level } : {}),
      ...(conversion.platform ? { platform: conversion.platform } : {}),
      stdout: process.stdout,
      ...(conversion.onWarning ? { onWarning: conversion.onWarning } : {}),
    });
    return withOpenStore(layout, (converted) => fn(converted, saved.images.map((image) => image.name ?? image.descriptor.digest)));
  });
}
