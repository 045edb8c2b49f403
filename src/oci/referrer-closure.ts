/**
 * The one referrer closure: an image's referrers (signatures, SBOMs,
 * attestations: manifests whose subject it is), and theirs (a signature of
 * an SBOM), breadth first, each once, subjects before their referrers, as
 * every path gathers them: from a registry (pull), an archive (load), a
 * store (save, push). Each medium says only how it lists a subject's
 * referrers; the bounds and their warning are the same everywhere.
 */
import type { Document } from './image-ends.js';
import { isIndexMediaType, type Descriptor, type Digest } from './types.js';
import { parseIndex, parseJson, parseManifest } from './validate.js';

/**
 * How far referrers are followed (docs/trust.md): a registry answers what it
 * likes, an archive or a store holds what anyone put there, and a chain of
 * referrers of referrers without end would be followed for ever. Past either
 * bound the rest is left behind with one warning; a --require-signed check
 * then fails closed on what came.
 */
export const referrerLimits = {
  /** Referrers taken per closure, all subjects together. */
  total: 1000,
  /** Referrers of referrers: a signature of an SBOM of the image is depth 2. */
  depth: 4,
} as const;

export interface ReferrerLookup<T> {
  /** Where the referrers are listed, for the warnings: a registry's repository, an archive, a store. */
  where: string;
  /** Subject's referrers as its medium lists them, in that order. */
  referrersOf(subject: Digest): Promise<T[]> | T[];
  digestOf(referrer: T): Digest;
  /**
   * Whether a listed referrer is taken; by default every one. A registry's
   * listing is anyone's to write: pull fetches the manifest here and takes
   * it only if it names the subject.
   */
  take?(referrer: T, subject: Digest): Promise<boolean>;
  onWarning?(message: string): void;
}

export interface ClosureReferrer<T> {
  subject: Digest;
  referrer: T;
}

export async function referrerClosure<T>(subjects: Iterable<Digest>, lookup: ReferrerLookup<T>): Promise<Array<ClosureReferrer<T>>> {
  const out: Array<ClosureReferrer<T>> = [];
  const seen = new Set<Digest>(subjects);
  const queue = [...seen].map((digest) => ({ digest, depth: 0 }));
  for (let next = 0; next < queue.length; next++) {
    const { digest: subject, depth } = queue[next]!;
    const listed = (await lookup.referrersOf(subject)).filter((referrer) => !seen.has(lookup.digestOf(referrer)));
    if (listed.length === 0) continue;
    if (depth >= referrerLimits.depth) {
      lookup.onWarning?.(`${lookup.where}: referrers of ${subject} left out: a chain of referrers deeper than ${referrerLimits.depth}`);
      continue;
    }
    for (const referrer of listed) {
      const digest = lookup.digestOf(referrer);
      if (seen.has(digest)) continue;
      if (out.length >= referrerLimits.total) {
        lookup.onWarning?.(`${lookup.where}: more than ${referrerLimits.total} referrers; the rest are left out`);
        return out;
      }
      seen.add(digest);
      if (lookup.take && !(await lookup.take(referrer, subject))) continue;
      out.push({ subject, referrer });
      queue.push({ digest, depth: depth + 1 });
    }
  }
  return out;
}

/** A referrer as a referrers index lists it: with its artifactType and its manifest's annotations. */
export function referrerDescriptor(document: Document): Descriptor {
  const { mediaType, digest, size } = document.descriptor;
  const where = `referrer ${digest}`;
  const value = parseJson(document.bytes.toString('utf8'), where);
  let artifactType: string | undefined;
  let annotations: Record<string, string> | undefined;
  if (isIndexMediaType(mediaType)) {
    ({ artifactType, annotations } = parseIndex(value, where));
  } else {
    const manifest = parseManifest(value, where);
    // The image-spec's rule for a referrer without an artifactType: its config's media type.
    ({ annotations } = manifest);
    artifactType = manifest.artifactType ?? manifest.config.mediaType;
  }
  return { mediaType, digest, size, ...(artifactType !== undefined ? { artifactType } : {}), ...(annotations ? { annotations } : {}) };
}
