/** The small JSON documents of this folder (part manifests, have files): read with a size cap, identified by format and version. */
import { InvalidInputError } from '../errors.js';
import { readMetadata, type DocumentCap } from '../io/metadata.js';
import { parseJson } from '../oci/validate.js';

export interface DocumentKind {
  /** "part manifest", "have file": how messages name it. */
  what: string;
  format: string;
  /** The version written. */
  version: number;
  /** Older versions still read (the caller tells them apart by `version`). */
  alsoReads?: number[];
  /** Its entry in the one table of caps (io/metadata.ts documentCaps). */
  cap: DocumentCap;
  hint?: string;
}

export async function readDocument(path: string, kind: DocumentKind): Promise<Record<string, unknown>> {
  const text = (await readMetadata(path, kind.cap, `a ${kind.what}`)).toString('utf8');
  return checkDocument(parseJson(text, path), path, kind);
}

/** The object, if it is a document of this kind and version. */
export function checkDocument(value: unknown, where: string, kind: DocumentKind): Record<string, unknown> {
  const hint = kind.hint ? `; ${kind.hint}` : '';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError(where, `not a ${kind.what} (not a JSON object)${hint}`);
  const doc = value as Record<string, unknown>;
  if (doc.format !== kind.format) throw new InvalidInputError(where, `not a ${kind.what} (format is ${JSON.stringify(doc.format)}, expected "${kind.format}")${hint}`);
  const versions = [...(kind.alsoReads ?? []), kind.version];
  if (!versions.includes(doc.version as number)) throw new InvalidInputError(where, `unsupported ${kind.what} version ${JSON.stringify(doc.version)} (this rootfs reads version ${versions.join(' and ')})`);
  return doc;
}

/** A field-check failure as an error naming the document. */
export function failer(where: string): (detail: string) => never {
  return (detail) => {
    throw new InvalidInputError(where, detail);
  };
}
