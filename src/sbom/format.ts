/** The SBOM formats, by the name `--format` takes: each one's media type (the referrer's artifactType) and writer. */
import { cyclonedxDocument } from './cyclonedx.js';
import type { SbomOptions, SbomSubject } from './identity.js';
import { cyclonedxMediaType, spdxMediaType } from './media-types.js';
import { spdxDocument } from './spdx.js';
import type { Inventory } from './types.js';

export const sbomFormats = {
  spdx: { mediaType: spdxMediaType, document: spdxDocument },
  cyclonedx: { mediaType: cyclonedxMediaType, document: cyclonedxDocument },
} as const;

export type SbomFormat = keyof typeof sbomFormats;

export function isSbomFormat(name: string): name is SbomFormat {
  return Object.hasOwn(sbomFormats, name);
}

/** The document's bytes: JSON, two-space indented, one final newline; the same inventory and options give the same bytes. */
export function writeSbom(format: SbomFormat, inventory: Inventory, subject: SbomSubject, options: SbomOptions): Buffer {
  return Buffer.from(`${JSON.stringify(sbomFormats[format].document(inventory, subject, options), null, 2)}\n`);
}
