/**
 * The members of an image archive, whatever carries them: a tar (a file or
 * stdin, plain or compressed, read once in order) or an OCI layout directory
 * (read in dependency order, only what index.json reaches).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressor, detectCompression } from '../compress/index.js';
import { fromFsError, isSystemError } from '../errors.js';
import { blobMemberName } from '../oci/layout.js';
import { isIndexMediaType, isManifestMediaType, type Index } from '../oci/types.js';
import { walkImage } from '../oci/walk.js';
import type { EntryType } from '../tar/header.js';
import { safeMemberPath } from '../tar/paths.js';
import { readTar } from '../tar/reader.js';
import { unlessMissing } from '../io/metadata.js';
import { LayoutDirectory } from '../store/layout.js';
import { deltaLayers, type DeltaEntry } from './delta-annotation.js';

export interface SourceMember {
  /** Normalised archive path: no leading "./", no trailing "/". */
  name: string;
  type: EntryType;
  size: number;
  linkpath?: string;
  body: Readable;
}

/** The members of a tar stream, decompressing it first if it is gzip'd, zstd'd… (`docker save | gzip`). */
export async function* tarMembers(input: Readable, archive: string): AsyncGenerator<SourceMember> {
  try {
    const { compression, stream } = await detectCompression(input);
    let tar = stream;
    if (compression !== 'none') {
      const decompressor = createDecompressor(compression, archive);
      // A read error reaches readTar through the decompressor, which pipeline destroys with it.
      pipeline(stream, decompressor).catch(() => {});
      tar = decompressor;
    }
    for await (const { entry, body } of readTar(tar, archive)) {
      const name = safeMemberPath(entry.path, archive).toString('utf8');
      if (name === '.') {
        body.resume();
        continue;
      }
      const member: SourceMember = { name, type: entry.type, size: entry.size, body };
      if (entry.linkpath) member.linkpath = entry.linkpath.toString('utf8');
      yield member;
    }
  } catch (err) {
    // A read error of the archive itself (a disk error, a file gone) names the archive.
    throw isSystemError(err) ? fromFsError(err, archive) : err;
  }
}

/**
 * The members of an OCI layout directory that its index.json reaches:
 * oci-layout and index.json first, then each manifest or index before the
 * blobs it names, each blob once, then the delta blobs its delta annotation
 * names (a layout saved for a site, delta-layers.ts). Other unreferenced
 * blobs are never read.
 */
export async function* ociDirMembers(dir: string): AsyncGenerator<SourceMember> {
  const layout = LayoutDirectory.foreign(dir);
  const layoutFile = await unlessMissing(layout.readLayoutFile());
  if (layoutFile) yield bufferMember('oci-layout', layoutFile);
  const index = await unlessMissing(layout.readIndexBytes());
  if (index) yield bufferMember('index.json', index);
  const roots = parseOr<Index>(index)?.manifests;
  if (!Array.isArray(roots)) return; // the format reader reports index.json
  // Damage is left for the format reader to report, naming the member: blobs are read as they are (unverified), and
  // what cannot be followed is yielded as it is.
  const walk = walkImage(roots, { read: (descriptor) => unlessMissing(layout.readUnverified(descriptor.digest)), where: (descriptor) => layout.blobPath(descriptor.digest), invalid: 'leaf' });
  for await (const { descriptor, bytes } of walk) {
    const name = blobMemberName(descriptor.digest);
    if (bytes) {
      yield bufferMember(name, bytes);
      continue;
    }
    if (isIndexMediaType(descriptor.mediaType) || isManifestMediaType(descriptor.mediaType)) continue; // missing: reported by the format reader
    const opened = await unlessMissing(layout.openUnverified(descriptor.digest, Number.isSafeInteger(descriptor.size) && descriptor.size >= 0 ? descriptor.size : undefined));
    if (opened) yield { name, type: 'file', size: opened.size, body: opened.stream };
  }
  for (const { delta, deltaSize } of deltasNamed(parseOr<Index>(index)!)) {
    const opened = await unlessMissing(layout.openUnverified(delta, deltaSize));
    if (opened) yield { name: blobMemberName(delta), type: 'file', size: opened.size, body: opened.stream };
  }
}

/** The deltas an index's annotation names; none from a damaged annotation, which load reports naming index.json. */
function deltasNamed(index: Index): DeltaEntry[] {
  try {
    return [...deltaLayers(index, 'index.json').values()];
  } catch {
    return [];
  }
}

function bufferMember(name: string, bytes: Buffer): SourceMember {
  return { name, type: 'file', size: bytes.length, body: Readable.from([bytes]) };
}

function parseOr<T>(bytes: Buffer | undefined): T | undefined {
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    return undefined; // the format reader reports it, naming the member
  }
}
