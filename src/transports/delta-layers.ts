/**
 * Sub-layer deltas, both halves (docs/formats.md, "Delta layers"). Save: a
 * layer the receiving site lacks goes as a patch (delta-codec.ts) of its tar
 * against the tar of a layer the site holds, when its compressed bytes can be
 * rebuilt there exactly (a recipe the site runs, proven here first) and the
 * patch is smaller than the layer. Load: the tar is rebuilt from the store's
 * reference, re-encoded by the recipe and staged under the layer's digest
 * through the same checks as any member (ArchiveContents.addRebuilt), so the
 * manifests, and signatures over them, are those the sender had.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressor, createRecipeCompressor, layerRecipe } from '../compress/index.js';
import { InvalidInputError, printable, RootfsError } from '../errors.js';
import { discard, Tap } from '../io/streams.js';
import { openStoredLayer } from '../layers/source.js';
import { DigestStream } from '../oci/digest.js';
import { blobMemberName } from '../oci/layout.js';
import { familiarRepository } from '../oci/reference.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { resolveEntry } from '../store/resolve.js';
import type { Store } from '../store/store.js';
import type { Spool } from '../io/temp.js';
import type { ArchiveContents } from './contents.js';
import { deltaLayersAnnotation, type DeltaEntry } from './delta-annotation.js';
import { decodeDelta, encodeDelta, spoolReference } from './delta-codec.js';

// ------------------------------------------------------------------ save

/** A layer of this store that the site holds too: a possible reference. */
export interface ReferenceLayer {
  layer: Descriptor;
  diffId: Digest;
  /** The repository of an image it is in ("app", "reg:5000/ns/app"), and its position there. */
  repository: string;
  position: number;
}

/** The layers of this store's images that the site holds (`held`: the have file's blobs, the --since layers). */
export async function referenceLayers(store: Store, held: Set<Digest>): Promise<ReferenceLayer[]> {
  const found: ReferenceLayer[] = [];
  for (const image of await store.listImages()) {
    let resolved;
    try {
      resolved = await resolveEntry(store, image.descriptor);
    } catch (err) {
      if (err instanceof RootfsError) continue; // an image this store cannot read is no reference; save reports it if it is saved
      throw err;
    }
    resolved.manifest.layers.forEach((layer, position) => {
      const diffId = resolved.config.rootfs.diff_ids[position];
      if (held.has(layer.digest) && diffId !== undefined) found.push({ layer, diffId, repository: familiarRepository(image.ref), position });
    });
  }
  return found;
}

/**
 * The reference for a layer at `position` of an image of `repository`: the
 * layer at that position of an image of the same repository (a re-capture, a
 * vendor's next release), else of any image (a rebuilt base), else the last
 * layer at an earlier position of the same repository, which a new layer on
 * top most likely changes. Undefined: no delta.
 */
export function chooseReference(candidates: ReferenceLayer[], repository: string | undefined, position: number): ReferenceLayer | undefined {
  return (
    candidates.find((candidate) => candidate.repository === repository && candidate.position === position) ??
    candidates.find((candidate) => candidate.position === position) ??
    candidates.filter((candidate) => candidate.repository === repository && candidate.position < position).sort((a, b) => b.position - a.position)[0]
  );
}

export type DeltaAttempt = { entry: DeltaEntry; path: string } | { whole: string };

/**
 * A layer as a delta against the reference, written to a spool file, or why
 * it goes whole: no recipe recorded, an encoder the site (or this build)
 * lacks, a recipe that does not give the layer's bytes here, or a patch no
 * smaller than the layer.
 */
export async function makeDelta(store: Store, layer: Descriptor, reference: ReferenceLayer, siteEncoders: Set<string>, spoolPath: () => Promise<string>): Promise<DeltaAttempt> {
  const where = `layer ${layer.digest}`;
  const { compression, stream: probe } = await openStoredLayer(store, layer);
  probe.destroy();
  const recipe = layerRecipe(layer.annotations, compression);
  if (!recipe) return { whole: `no encoder recorded for its ${compression} bytes (compressed elsewhere)` };
  if (recipe.encoder !== 'none' && !siteEncoders.has(recipe.encoder)) return { whole: `the site cannot run ${printable(recipe.encoder)}` };
  const compressor = createRecipeCompressor(recipe);
  if (!compressor) return { whole: `this rootfs cannot run ${printable(recipe.encoder)}` };
  // Proof before promise: the recipe must give the stored bytes here, or the site could not rebuild them either.
  const tar = new DigestStream();
  const again = new DigestStream();
  await pipeline([await storedTar(store, layer, where), tar, compressor, again, discard()]);
  if (again.digest !== layer.digest) return { whole: `${printable(recipe.encoder)} level ${recipe.level ?? '-'} does not reproduce its bytes` };

  const referencePath = await spoolPath();
  const path = await spoolPath();
  try {
    const spooled = await spoolReference(await storedTar(store, reference.layer, `layer ${reference.layer.digest}`), referencePath, `layer ${reference.layer.digest}`);
    const delta = new DigestStream();
    await pipeline([Readable.from(encodeDelta(spooled, await storedTar(store, layer, where), where), { objectMode: false }), delta, createWriteStream(path, { flags: 'wx', mode: 0o644 })]);
    if (delta.size >= layer.size) {
      await rm(path, { force: true });
      return { whole: `its delta (${delta.size} bytes) is no smaller` };
    }
    return {
      path,
      entry: { layer: layer.digest, size: layer.size, diffId: tar.digest, delta: delta.digest, deltaSize: delta.size, reference: { digest: reference.layer.digest, size: reference.layer.size, diffId: spooled.diffId }, recipe },
    };
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  } finally {
    await rm(referencePath, { force: true });
  }
}

/** A stored layer's tar: its bytes verified as read and decompressed as they say. */
async function storedTar(store: Store, layer: Descriptor, where: string): Promise<Readable> {
  const { compression, stream } = await openStoredLayer(store, layer);
  const tar = createDecompressor(compression, where);
  pipeline(stream, tar).catch((err: unknown) => tar.destroy(err as Error));
  return tar;
}

// ------------------------------------------------------------------ load

/**
 * Rebuilds a delta layer into the contents: the reference's tar from the
 * store, checked against its diff_id and spooled; the delta applied; the
 * result checked against the layer's diff_id, re-encoded by the recipe and
 * staged under the layer's digest, which it must match. Exit 3 otherwise,
 * naming the layer; nothing is named until load commits.
 */
export async function rebuildLayer(contents: ArchiveContents, store: Store, entry: DeltaEntry, spool: Spool): Promise<void> {
  const where = contents.where(`layer ${entry.layer}`);
  const deltaMember = contents.blob(blobMemberName(entry.delta), `index.json annotation ${deltaLayersAnnotation}`);
  if (deltaMember.size !== entry.deltaSize) throw new InvalidInputError(where, `its delta ${entry.delta} is ${deltaMember.size} bytes, not ${entry.deltaSize}`);
  if (!(await store.hasBlob(entry.reference.digest))) {
    throw new InvalidInputError(where, `comes as a delta against layer ${entry.reference.digest} (diff_id ${entry.reference.diffId}), which this store does not hold: load the image that has it first, or have the sender save again with --no-delta`);
  }
  const compressor = createRecipeCompressor(entry.recipe);
  if (!compressor) throw new InvalidInputError(where, `is to be re-encoded with ${entry.recipe.encoder}, which this rootfs cannot run; have the sender save again with --no-delta, or with --exclude-have from this host's rootfs have`);
  const referencePath = await spool.path();
  try {
    const reference = await spoolReference(await storedTar(store, { mediaType: 'application/octet-stream', digest: entry.reference.digest, size: entry.reference.size }, `layer ${entry.reference.digest}`), referencePath, `layer ${entry.reference.digest}`);
    if (reference.diffId !== entry.reference.diffId) throw new InvalidInputError(where, `its reference layer ${entry.reference.digest} has diff_id ${reference.diffId} in this store, not ${entry.reference.diffId}`);
    const tar = new DigestStream();
    const rebuilt = Readable.from(decodeDelta(contents.staging.pathOf(entry.delta), reference, contents.where(blobMemberName(entry.delta))), { objectMode: false });
    const checkedTar = new Tap(
      () => {},
      async () => {
        if (tar.digest !== entry.diffId) throw new InvalidInputError(where, `rebuilt from its delta, the tar has diff_id ${tar.digest}, not ${entry.diffId}`);
      },
    );
    // A failure anywhere upstream fails the compressor, which addRebuilt reads as the member's body.
    pipeline([rebuilt, tar, checkedTar, compressor]).catch((err: unknown) => compressor.destroy(err as Error));
    await contents.addRebuilt(entry.layer, entry.size, compressor, where);
  } finally {
    await rm(referencePath, { force: true });
  }
}
