/**
 * The official SPDX 2.3 and CycloneDX 1.6 JSON schemas (test/fixtures/schema/,
 * README there says whence), compiled once with ajv: the SBOM suites check
 * every document we write against them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
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
