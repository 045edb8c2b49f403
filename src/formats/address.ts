/**
 * Where images are read from or written to, spelled the way skopeo spells
 * its transports (`docker-archive:PATH[:name:tag]`, `oci:DIR[:ref]`,
 * `oci-archive:PATH[:ref]`), or a plain path whose format is found from its
 * content. `-` is stdin or stdout.
 */
import { UsageError } from '../errors.js';

/** The formats we write; `docker-legacy` is docker-archive without the OCI layout (docker save before 25). */
export const formatNames = ['docker-archive', 'docker-legacy', 'oci-archive', 'oci'] as const;
export type FormatName = (typeof formatNames)[number];

export interface ArchiveAddress {
  /** Undefined when the address was a plain path: detect it from content. */
  format: FormatName | undefined;
  path: string;
  /** docker-archive: a `name:tag` (or `@N`, the Nth image); oci: a ref.name annotation. */
  ref: string | undefined;
}

export function isFormatName(value: string): value is FormatName {
  return (formatNames as readonly string[]).includes(value);
}

/** Parses `FORMAT:PATH[:REF]` or a plain path. A plain path that contains a colon stays a path. */
export function parseAddress(text: string): ArchiveAddress {
  if (text === '') throw new UsageError('empty archive address');
  const colon = text.indexOf(':');
  const prefix = colon < 0 ? '' : text.slice(0, colon);
  if (!isFormatName(prefix)) return { format: undefined, path: text, ref: undefined };
  const rest = text.slice(colon + 1);
  // skopeo splits at the first colon after the transport: paths with colons cannot be addressed this way, as there.
  const split = rest.indexOf(':');
  const path = split < 0 ? rest : rest.slice(0, split);
  const ref = split < 0 ? undefined : rest.slice(split + 1);
  if (path === '') throw new UsageError(`${text}: no path after '${prefix}:'`);
  if (ref === '') throw new UsageError(`${text}: empty reference after the path`);
  return { format: prefix, path, ref };
}
