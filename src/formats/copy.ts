/**
 * `rootfs copy SRC DST`: an image from any transport to any other (skopeo's
 * names, plus `rootfs:` for the store), composed of the verified pipelines
 * that exist: into a store by load or pull, out of one by save or push.
 * When neither end is the store, the image passes through a private store
 * made for the copy (beside the destination, else in $TMPDIR) and removed
 * after it, so the user's store is never opened.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { UsageError } from '../errors.js';
import { makeDirectory } from '../io/durable.js';
import { freshTempName, removeOnInterrupt } from '../io/temp.js';
import { familiarName, parseReference, type ImageReference } from '../oci/reference.js';
import type { Digest, Platform } from '../oci/types.js';
import { pullImage } from '../registry/pull.js';
import { BlobLocations, pushImage } from '../registry/push.js';
import type { TransferOptions } from '../registry/transfer.js';
import { Store } from '../store/store.js';
import type { TransportAddress } from './address.js';
import { loadArchive } from './load.js';
import type { BeforeNames } from '../store/staged.js';
import { planSave } from './registry.js';
import { saveImages, type CompressionChoice } from './save.js';

export interface CopyOptions {
  platform?: Platform;
  compression: CompressionChoice;
  level?: number;
  /** false (--no-referrers): the images alone. */
  referrers: boolean;
  /** Runs where the images have come in, verified, before any is named (a trust policy: --require-signed). */
  beforeNames?: BeforeNames;
  stdin: { input: Readable; name: string };
  stdout: Writable;
  /** Runs fn with the user's store open; only called when an end is `rootfs:` (readOnly when it is the source). */
  withStore<T>(readOnly: boolean, fn: (store: Store) => Promise<T>): Promise<T>;
  /** The connection options (credentials, TLS) for a registry end. */
  registry(host: string): Promise<TransferOptions>;
  onWarning?: (message: string) => void;
  onEvent?: TransferOptions['onEvent'];
}

export interface CopiedImage {
  /** The name it has at the destination, when it has one. */
  name: string | undefined;
  digest: Digest;
}

export interface CopyResult {
  images: CopiedImage[];
  /** Referrers that went with them. */
  referrers: number;
}

/** What a store holds once the source is in it: the names (or digests) to save or push from it. */
interface Held {
  texts: string[];
  images: CopiedImage[];
  referrers: number;
}

export async function copyImages(source: TransportAddress, destination: TransportAddress, options: CopyOptions): Promise<CopyResult> {
  if (source.kind === 'store') {
    if (destination.kind === 'store') throw new UsageError(`rootfs:${source.ref} to rootfs:${destination.ref} is a new name in the same store: rootfs tag ${source.ref} ${destination.ref}`);
    const to = destination;
    return options.withStore(true, (store) => out(store, [source.ref], to, options));
  }
  if (destination.kind === 'store') {
    const target = parseReference(destination.ref);
    return options.withStore(false, async (store) => {
      const { images, referrers } = await into(store, source, target, options);
      return { images, referrers };
    });
  }
  return withPrivateStore(stagingParent(destination), async (store) => {
    const held = await into(store, source, undefined, options);
    return out(store, held.texts, destination, options);
  });
}

/** fn with a store of its own in a fresh directory under parent, removed afterwards (and on interrupt). */
async function withPrivateStore<T>(parent: string, fn: (store: Store) => Promise<T>): Promise<T> {
  await makeDirectory(parent);
  const dir = await freshTempName(parent, '.rootfs-copy');
  const release = removeOnInterrupt(dir);
  try {
    const store = await Store.open(dir);
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    release();
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
  return withPrivateStore(tmpdir(), async (converted) => {
    const layout = join(converted.dir, 'layout');
    const saved = await saveImages(store, texts, layout, {
      format: 'oci',
      compression: conversion.compression,
      ...(conversion.level !== undefined ? { level: conversion.level } : {}),
      ...(conversion.platform ? { platform: conversion.platform } : {}),
      stdout: process.stdout,
      ...(conversion.onWarning ? { onWarning: conversion.onWarning } : {}),
    });
    const opened = await Store.open(layout);
    try {
      return await fn(opened, saved.images.map((image) => image.name ?? image.descriptor.digest));
    } finally {
      await opened.close();
    }
  });
}

/** The private store goes on the destination's file system (its blobs are renamed from there into a layout), else in $TMPDIR. */
function stagingParent(destination: TransportAddress): string {
  return destination.kind === 'archive' && destination.address.path !== '-' ? dirname(destination.address.path) : tmpdir();
}

/** Loads or pulls source into store, named `target` when given, else as the source names it. */
async function into(store: Store, source: Exclude<TransportAddress, { kind: 'store' }>, target: ImageReference | undefined, options: CopyOptions): Promise<Held> {
  if (source.kind === 'archive') {
    const { images, referrers } = await loadArchive(store, source.address, {
      ...(options.platform ? { platform: options.platform } : {}),
      ...(target ? { tag: target } : {}),
      stream: options.stdin,
      referrers: options.referrers,
      ...(options.beforeNames ? { beforeNames: options.beforeNames } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
    const texts = images.flatMap((image) => (image.tags.length > 0 ? image.tags : [image.descriptor.digest]));
    return { texts, images: images.map((image) => ({ name: image.tags[0], digest: image.descriptor.digest })), referrers };
  }
  const reference = source.address.reference;
  if (!reference) throw new UsageError(`docker://${source.address.registry} names a registry but no image; copy takes docker://${source.address.registry}/REPO[:TAG|@DIGEST]`);
  const pulled = await pullImage(store, reference, target, {
    ...(await options.registry(reference.registry)),
    // As load keeps an archive's index whole: every platform unless one is asked for.
    ...(options.platform ? { platform: options.platform } : { allPlatforms: true }),
    untagged: true,
    referrers: options.referrers,
    ...(options.beforeNames ? { beforeNames: options.beforeNames } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const named = (target ?? reference).tag !== undefined;
  return { texts: [named ? pulled.reference : pulled.descriptor.digest], images: [{ name: named ? pulled.reference : undefined, digest: pulled.descriptor.digest }], referrers: pulled.referrers };
}

/** Saves or pushes texts (store names or digests) from store to destination. */
async function out(store: Store, texts: string[], destination: Exclude<TransportAddress, { kind: 'store' }>, options: CopyOptions): Promise<CopyResult> {
  if (destination.kind === 'archive') {
    const { address } = destination;
    // An address with a REF names one image: each image once, under its first name.
    const chosen = address.ref !== undefined ? await oneTextPerImage(store, texts) : texts;
    const saved = await saveImages(store, chosen, address.path, {
      format: address.format,
      compression: options.compression,
      ...(options.level !== undefined ? { level: options.level } : {}),
      ...(options.platform ? { platform: options.platform } : {}),
      ref: address.ref,
      stdout: options.stdout,
      referrers: options.referrers,
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
    return { images: saved.images.map((image) => ({ name: image.name, digest: image.descriptor.digest })), referrers: saved.referrers };
  }
  if (options.compression !== 'keep') {
    const { compression, level, platform, onWarning } = options;
    const conversion: Conversion = { compression, ...(level !== undefined ? { level } : {}), ...(platform ? { platform } : {}), ...(onWarning ? { onWarning } : {}) };
    return withConverted(store, await oneTextPerImage(store, texts), conversion, (converted, names) => out(converted, names, destination, { ...options, compression: 'keep' }));
  }
  const plan = await planSave(store, await oneTextPerImage(store, texts), destination.address, options.platform);
  const knownLocations = new BlobLocations();
  const result: CopyResult = { images: [], referrers: 0 };
  for (const { source, destination: target } of plan) {
    const pushed = await pushImage(store, source, target, { ...(await options.registry(target.registry)), knownLocations, referrers: options.referrers, ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
    result.images.push({ name: familiarName(target), digest: pushed.digest });
    result.referrers += pushed.referrers;
  }
  return result;
}

/** One name (or digest) per image among texts, the first given for each. */
async function oneTextPerImage(store: Store, texts: string[]): Promise<string[]> {
  const seen = new Set<Digest>();
  const out: string[] = [];
  for (const text of texts) {
    const { descriptor } = await store.find(text);
    if (seen.has(descriptor.digest)) continue;
    seen.add(descriptor.digest);
    out.push(text);
  }
  return out;
}
