/**
 * A layer recompressed on its way to a destination, the one conversion of
 * the copy (go-containerregistry's mutate, skopeo's --dest-compress): asked
 * for (--compression), or because the destination cannot hold what the
 * bytes are (zstd in a docker archive). What a layer is judged by is what
 * its bytes are (oci/layer-media.ts), never its label. The new layer goes
 * to a file first (a tar member and a registry's monolithic PUT need its
 * size and digest), and the manifests that name it are rewritten, their
 * configs untouched, so an image ID stays what it was.
 */
import { createWriteStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressorRecipe, createDecompressor, createRecipeCompressor, layerRecipeAnnotations, withoutRecipe, type Compression, type CompressionChoice } from '../compress/index.js';
import { outputError } from '../io/output.js';
import { sha256, DigestStream } from '../oci/digest.js';
import type { Document, LayerConversion } from '../oci/image-ends.js';
import { isIndexMediaType, layerCompression, MediaType, ociLayerMediaType, type Descriptor, type Digest, type Index, type Manifest } from '../oci/types.js';
import { parseIndex, parseJson } from '../oci/validate.js';

/** What the layers become: --compression (keep: as they are, unless the destination cannot hold them) and the level for the ones rewritten. */
export interface ConversionRule {
  compression: CompressionChoice;
  level?: number;
}

/** The rule --compression and --level give (a level only where one is given: levels.ts has the defaults). */
export function conversionRule(compression: CompressionChoice, level: number | undefined): ConversionRule {
  return level === undefined ? { compression } : { compression, level };
}

/**
 * What a layer whose bytes are `from` becomes, if it changes. keep: as it
 * is, byte for byte under its own label (a mislabelled one too: its digest
 * and its manifest's are kept), unless the destination cannot hold `from`,
 * which becomes uncompressed, as Docker 25+ saves zstd layers. Another
 * compression: rewritten from what the bytes are, or only relabelled when
 * they already are that. Not a layer type we know (an attestation): as it is.
 */
export function conversionOf(layer: Descriptor, from: Compression, rule: ConversionRule, cannotHold: readonly Compression[] = []): LayerConversion | undefined {
  const declared = layerCompression(layer.mediaType);
  if (declared === undefined) return undefined;
  if (rule.compression !== 'keep') return rule.compression === from && declared === from ? undefined : { layer, from, to: rule.compression, why: 'asked' };
  return cannotHold.includes(from) ? { layer, from, to: 'none', why: 'format' } : undefined;
}

/**
 * Writes the converted layer to path from the layer's verified bytes and
 * returns its descriptor: under a manifest of Docker's media types, Docker's
 * layer type; a re-encoded layer records the recipe it now follows, not the
 * one its old bytes did.
 */
export async function convertLayer(verified: Readable, conversion: LayerConversion, level: number | undefined, docker: boolean, path: string): Promise<Descriptor> {
  const { layer, from, to } = conversion;
  // Bytes that already are what is asked for (a mislabelled layer) are copied: only the label changes.
  const recipe = from === to ? undefined : compressorRecipe(to, level);
  const stages: Array<Readable | Writable> = [verified];
  if (recipe) {
    if (from !== 'none') stages.push(createDecompressor(from, `layer ${layer.digest}`));
    if (to !== 'none') stages.push(createRecipeCompressor(recipe)!);
  }
  const digest = new DigestStream();
  await pipeline([...stages, digest, createWriteStream(path, { flags: 'wx', mode: 0o644 })] as unknown as [Readable, Writable]).catch(outputError(path));
  const converted: Descriptor = { ...(recipe ? withoutRecipe(layer) : layer), mediaType: convertedMediaType(to, docker), digest: digest.digest, size: digest.size };
  if (recipe && to !== 'none') converted.annotations = { ...converted.annotations, ...layerRecipeAnnotations(recipe) };
  return converted;
}

function convertedMediaType(compression: 'none' | 'gzip' | 'zstd', docker: boolean): string {
  if (!docker) return ociLayerMediaType(compression);
  return compression === 'gzip' ? MediaType.DockerLayerGzip : compression === 'zstd' ? 'application/vnd.docker.image.rootfs.diff.tar.zstd' : MediaType.DockerLayerTar;
}

/**
 * The documents (children first) with every layer `layers` replaces: a
 * manifest naming one is rewritten, and so is every index above it; the
 * rest keep their bytes. Returns each rewritten document by its old digest.
 */
export function rewriteDocuments(documents: Array<{ document: Document; manifest?: Manifest }>, layers: Map<Digest, Descriptor>): Map<Digest, Document> {
  const rewritten = new Map<Digest, Document>();
  const write = (old: Descriptor, content: object): void => {
    const bytes = Buffer.from(JSON.stringify(content));
    rewritten.set(old.digest, { descriptor: { ...old, digest: sha256(bytes), size: bytes.length }, bytes });
  };
  for (const { document, manifest } of documents) {
    const { descriptor } = document;
    if (manifest) {
      const replaced = manifest.layers.map((layer) => layers.get(layer.digest) ?? layer);
      if (replaced.some((layer, i) => layer !== manifest.layers[i])) write(descriptor, { ...manifest, layers: replaced });
    } else if (isIndexMediaType(descriptor.mediaType)) {
      const where = `index ${descriptor.digest}`;
      const index: Index = parseIndex(parseJson(document.bytes.toString('utf8'), where), where);
      const children = index.manifests.map((child) => {
        const now = rewritten.get(child.digest)?.descriptor;
        return now ? { ...child, digest: now.digest, size: now.size } : child;
      });
      if (children.some((child, i) => child !== index.manifests[i])) write(descriptor, { ...index, manifests: children });
    }
  }
  return rewritten;
}
