/**
 * What `rootfs import` and `rootfs commit` read, and the one call that makes
 * their image of it: a tarball as it is, a tarball through path rules, a
 * directory walked as pack walks it, or, with a base, any of these compared
 * with a stored image and only the differences written, as a layer on it.
 * The source is opened before the store is: a missing file, a terminal on
 * stdin or a refused flag fails with the store untouched.
 */
import type { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import { openInput } from '../io/input.js';
import { estimatePack } from '../pack/estimate.js';
import type { ReadCounter } from '../pack/members.js';
import type { ImageReference } from '../oci/reference.js';
import type { PackEvents } from '../pack/pack.js';
import type { TreeOptions } from '../pack/tree.js';
import { withCapturedSbom, type CapturedSbom } from '../sbom/image.js';
import type { SbomOptions } from '../sbom/identity.js';
import { resolveImage } from '../store/resolve.js';
import type { Store } from '../store/store.js';
import { commitDelta, type DeltaResult } from './recapture.js';
import { importDirectory, importMembers, importTarball, type ImportedImage, type ImportOptions } from './import.js';
import { openTree, pathKind, type TreeChoice, type TreeInput } from './tree-input.js';

/** An import's input, opened. total: the bytes it is expected to come to (a file's size, a directory's estimated tar), for progress. */
export type ImportSource =
  | { kind: 'tarball'; path: string; input: Readable; total?: number; acceptImageArchive: boolean }
  | { kind: 'members'; path: string; tree: TreeInput }
  | { kind: 'directory'; path: string; options: TreeOptions; total?: number }
  | { kind: 'delta'; path: string; base: string; tree: TreeInput };

export interface ImportSourceOptions {
  /** Default: a directory walked with pack's defaults, a tarball taken as it is. */
  tree?: TreeChoice;
  /** import --force: an image archive's files taken as a tree instead of refused. */
  force?: boolean;
  /** Compare with this image (a name or ID) and write only the differences. */
  base?: string;
  /** With a base: read every file whose metadata matches too; refused without one. */
  checksum?: boolean;
  /** The name the image is to get, as given: the refusal of a URL shows the command that would work. */
  name?: string;
}

/** import's input: PATH (a tarball, - for stdin, or a directory), opened as the options say. */
export async function openImportSource(path: string, options: ImportSourceOptions = {}): Promise<ImportSource> {
  const tree = options.tree ?? asGiven;
  // docker import fetches a URL itself; rootfs reads only files and stdin, and says how to get there.
  if (/^(?:https?|ftp):\/\//i.test(path)) throw new UsageError(`reads a file or stdin, not a URL: curl -fsSL '${path}' | rootfs import -${options.name === undefined ? '' : ` ${options.name}`}`);
  const directory = pathKind(path) === 'directory';
  if (directory && options.force) throw new UsageError(`--force takes an image archive's files as a tree; ${path} is a directory`);
  if (options.base !== undefined) return openDeltaSource(path, options.base, tree, options.force);
  if (options.checksum) throw new UsageError('--checksum compares with an image: give --base BASEREF');
  if (directory) {
    const walk = tree.directory();
    return { kind: 'directory', path, options: walk, total: estimatePack(path, walk) };
  }
  // Path rules on a tarball: its members through the same filter as a directory's, written as pack writes them.
  if (tree.tarball(path === '-' ? 'stdin' : path)) return { kind: 'members', path, tree: await openTree(path, tree, options.force) };
  const { stream, size } = await openInput(path, 'a tarball', 'rootfs import packs a directory it is given');
  return { kind: 'tarball', path, input: stream, total: size, acceptImageArchive: Boolean(options.force) };
}

/** No tree options: pack's defaults for a directory, a tarball as it is. */
const asGiven: TreeChoice = { directory: () => ({}), tarball: () => undefined };

/** The new tree of import --base and commit: PATH, to be compared with BASE. */
export async function openDeltaSource(path: string, base: string, tree: TreeChoice = asGiven, force = false): Promise<ImportSource> {
  return { kind: 'delta', path, base, tree: await openTree(path, tree, force) };
}

export interface ImportImageOptions extends Omit<ImportOptions, 'source' | 'onProgress' | 'observe' | 'acceptImageArchive'> {
  /** Attach an SBOM of the tree, made as it is captured. */
  sbom?: SbomOptions;
  /** A delta: compare every file's content (ImportSourceOptions.checksum). */
  checksum?: boolean;
  /** A delta's history names the command that made it: import (default) or commit. */
  command?: string;
}

export interface ImportEvents {
  /** A tarball: input bytes read (before decompression), and entries. */
  onProgress?: (bytesRead: number, entries: number) => void;
  /** A directory: its walk's warnings and progress. */
  pack?: PackEvents;
  /** A delta: the base's tree indexed, before the new one is compared. */
  onIndexed?: (entries: number) => void;
  /** A delta: something said about the base that is not a failure (a layer whose media type its bytes contradict). */
  onNotice?: (message: string) => void;
}

/** A single-layer image, named tags: entries written; the input's compression (`directory` for one); a directory's mount points kept empty; incomplete: a file changed or vanished while read (pack's warnings). */
export type SingleLayerImport = ImportedImage & { kind: 'layer'; tags: ImageReference[]; entries: number; inputCompression: string; notEntered?: readonly string[]; incomplete: boolean; sbom?: CapturedSbom };

/** A layer of differences on base, named tags: what a directory's walk read and kept empty. */
export type DeltaImport = DeltaResult & { kind: 'delta'; tags: ImageReference[]; base: string; read?: ReadCounter; notEntered?: readonly string[]; sbom?: CapturedSbom };

/** The image of an opened source, committed (and tagged) in the store, with its SBOM if asked. */
export async function importImage(store: Store, source: ImportSource, options: ImportImageOptions, events: ImportEvents = {}): Promise<SingleLayerImport | DeltaImport> {
  const { sbom, checksum, command, ...rest } = options;
  const where = source.path === '-' ? 'stdin' : source.path;
  const common = { ...rest, source: source.path };
  switch (source.kind) {
    case 'tarball': {
      const result = await withCapturedSbom(store, sbom, (tap) => importTarball(store, source.input, { ...common, acceptImageArchive: source.acceptImageArchive, ...(tap ? { observe: tap.layerWatcher() } : {}), onProgress: events.onProgress }));
      return { ...result, kind: 'layer', tags: options.tags, incomplete: false };
    }
    case 'members': {
      const result = await withCapturedSbom(store, sbom, (tap) => importMembers(store, source.tree.members, { ...common, ...(tap ? { observe: tap.layerWatcher() } : {}) }));
      return { ...result, kind: 'layer', tags: options.tags, inputCompression: source.tree.compression ?? 'none', incomplete: false };
    }
    case 'directory': {
      const { pack, ...result } = await withCapturedSbom(store, sbom, (tap) => importDirectory(store, source.path, { ...common, ...(tap ? { observe: tap.layerWatcher() } : {}) }, source.options, events.pack));
      const entries = Object.values(pack.entries).reduce((a, b) => a + b, 0);
      return { ...result, kind: 'layer', tags: options.tags, entries, inputCompression: 'directory', notEntered: pack.mountPointsNotEntered, incomplete: pack.warnings > 0 };
    }
    case 'delta': {
      const base = await resolveImage(store, source.base);
      const { tree } = source;
      // The SBOM is of the whole new tree, so the tap sees its members, not the layer of its changes.
      const result = await withCapturedSbom(store, sbom, (tap) =>
        commitDelta(store, base, source.base, tap ? tap.members(tree.members) : tree.members, {
          ...rest,
          source: where,
          checksum: Boolean(checksum),
          origin: tree.origin,
          createdBy: `rootfs ${command ?? 'import'} ${source.path} --base ${source.base}`,
          ...(events.onIndexed ? { onIndexed: events.onIndexed } : {}),
          ...(events.onNotice ? { onNotice: events.onNotice } : {}),
        }),
      );
      return { ...result, kind: 'delta', tags: options.tags, base: source.base, ...(tree.read ? { read: tree.read } : {}), ...(tree.notEntered ? { notEntered: tree.notEntered } : {}) };
    }
  }
}
