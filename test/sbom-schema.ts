/**
 * The official SPDX 2.3 and CycloneDX 1.6 JSON schemas (test/fixtures/schema/,
 * README there says whence), compiled once with ajv: the SBOM suites check
 * every document we write against them (writeChecked).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { sbomFormats, writeSbom, type SbomFormat } from '../src/sbom/format.js';
import type { Inventory } from '../src/sbom/types.js';
import { projectRoot } from './helpers.js';

const schemaDir = join(projectRoot, 'test/fixtures/schema');
const load = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(schemaDir, name), 'utf8')) as Record<string, unknown>;

let validators: { spdx: ValidateFunction; cyclonedx: ValidateFunction } | undefined;

function compile(): { spdx: ValidateFunction; cyclonedx: ValidateFunction } {
  // The schemas use keywords of their own ("meta:enum"): strict mode would refuse them.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // JSON Schema formats ajv-formats lacks, which CycloneDX uses: accepted as strings, as the schema's own type says.
  ajv.addFormat('iri-reference', true);
  ajv.addFormat('idn-email', true);
  // bom-1.6 names its neighbours by file name; their $id says otherwise, so they are registered under the names it uses.
  for (const name of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json']) {
    const schema = load(name);
    delete schema.$id;
    ajv.addSchema(schema, `http://cyclonedx.org/schema/${name}`);
  }
  return { spdx: ajv.compile(load('spdx-2.3.schema.json')), cyclonedx: ajv.compile(load('bom-1.6.SNAPSHOT.schema.json')) };
}

/** The schema's errors for document (empty: valid). */
export function schemaErrors(format: 'spdx' | 'cyclonedx', document: unknown): string[] {
  validators ??= compile();
  const validate = validators[format];
  return validate(document) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

const formats = Object.keys(sbomFormats) as SbomFormat[];
/** What the writers are given in the SBOM suites: a fixed time, so a document is the same bytes each run. */
export const writeOptions = { created: new Date('2024-01-02T03:04:05Z'), toolVersion: '0.1.0' };
/** An image as the subject of a document. */
export const imageSubject = { name: 'host:v1', digest: `sha256:${'ab'.repeat(32)}` };

interface Purls {
  purls: string[];
}

/** Every purl a document names, whichever the format. */
export function purlsOf(format: SbomFormat, document: Record<string, unknown>): Purls {
  if (format === 'spdx') {
    const packages = document.packages as Array<{ externalRefs?: Array<{ referenceLocator: string }> }>;
    return { purls: packages.flatMap((p) => (p.externalRefs ?? []).map((r) => r.referenceLocator)) };
  }
  const components = document.components as Array<{ purl?: string }>;
  return { purls: components.flatMap((c) => (c.purl ? [c.purl] : [])) };
}

/** Each format's document of inventory: valid against its schema, the same bytes when written again. */
export function writeChecked(inventory: Inventory, subject: { name: string; digest?: string }): Record<SbomFormat, Record<string, unknown>> {
  const documents = {} as Record<SbomFormat, Record<string, unknown>>;
  for (const format of formats) {
    const bytes = writeSbom(format, inventory, subject, writeOptions);
    const document = JSON.parse(bytes.toString()) as Record<string, unknown>;
    assert.deepEqual(schemaErrors(format, document), [], format);
    // Deterministic: the same inventory, the same bytes.
    assert.ok(writeSbom(format, inventory, subject, writeOptions).equals(bytes), format);
    documents[format] = document;
  }
  return documents;
}
