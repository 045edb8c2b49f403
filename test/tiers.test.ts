// tier: unit
/**
 * The rules every suite keeps, read from the sources: the unit tier is what
 * its marker says and needs what it promises (no root, engines, registry
 * process, debootstrap root or CLI spawn); no test sleeps; no test skips
 * quietly; clean-ups run last-registered first, every one of them.
 *
 * The tiers: a suite whose first line is exactly `// tier: unit` is in the
 * fast tier, which `npm run test:unit` runs; `npm test` (as .ci/run) runs
 * every suite, unit ones included. A local server on 127.0.0.1 inside the
 * test process counts as no network; a peer tool the machine has (GNU tar,
 * gzip, rpm) is allowed: what is kept out is what needs root, starts a
 * daemon, or builds a root with debootstrap.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from './helpers.js';

const testDir = join(projectRoot, 'test');
const unitMarker = '// tier: unit';
const sources = readdirSync(testDir)
  .filter((name) => name.endsWith('.ts'))
  .sort()
  .map((name) => ({ name, text: readFileSync(join(testDir, name), 'utf8') }));
const suites = sources.filter(({ name }) => name.endsWith('.test.ts'));
const unitSuites = suites.filter(({ text }) => text.startsWith(`${unitMarker}\n`));
/** Where the waits and skips are made (helpers.ts: waitFor, skipLoudly) and where their patterns are written (this file) are not held to them. */
const rulesApplyTo = sources.filter(({ name }) => name !== 'helpers.ts' && name !== 'tiers.test.ts');

/** Lines of text matching pattern, as "file:line: text". */
function offending(files: Array<{ name: string; text: string }>, pattern: RegExp): string[] {
  return files.flatMap(({ name, text }) => text.split('\n').flatMap((line, i) => (pattern.test(line) ? [`${name}:${i + 1}: ${line.trim()}`] : [])));
}

test('npm run test:unit runs the suites marked unit, and npm test every suite as CI does', () => {
  const scripts = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts['test:unit']!, new RegExp(`grep -lx '${unitMarker}' test/\\*\\.test\\.ts`), 'test:unit selects by the marker, not by a list');
  assert.match(scripts.test!, / dist\/test\/$/, 'npm test runs the whole directory');
  assert.match(readFileSync(join(projectRoot, '.ci/run'), 'utf8'), /\nnpm test\n/, 'CI runs npm test');
  // The marker elsewhere than the first line would be a suite believed fast and run only in the full tier.
  assert.deepEqual(offending(suites.filter((suite) => !unitSuites.includes(suite)), new RegExp(`^${unitMarker}$`)), []);
  // The core of the library: tar, compression, references, the store, sizes, levels, have files, SBOM readers and writers.
  for (const name of ['tar-reader', 'tar-writer', 'tar-paths', 'compress', 'reference', 'store', 'sbom-readers', 'sbom-writers', 'tiers']) {
    assert.ok(unitSuites.some((suite) => suite.name === `${name}.test.ts`), `${name}.test.ts is in the unit tier`);
  }
});

test('a unit suite needs no root, engine, registry process, debootstrap root or CLI spawn', () => {
  const needs: Array<[string, RegExp]> = [
    ['root', /\brequireRoot\(|\bmakeRootTree\(|\bmounter\(/],
    ['an engine', /['"]\.\/engines\.js['"]/],
    ['a registry process', /['"]\.\/registry-server\.js['"]/],
    ['a debootstrap root', /\bdebootstrapRoot\(|\bdebootstrap\b['"]/],
    ['the CLI', /\brootfs\(|\bcliPath\b|bin\/rootfs/],
  ];
  for (const [what, pattern] of needs) assert.deepEqual(offending(unitSuites, pattern), [], `unit suites needing ${what}`);
});

test('one fixtures module: a tar is built by fixtures.ts tarOf, an image by makeImage, a store compared by snapshot', () => {
  // Only the tar codec's own suite writes archives from raw entries: it tests the encoder tarOf rests on.
  const builders = rulesApplyTo.filter(({ name }) => name !== 'fixtures.ts' && name !== 'tar-reader.test.ts');
  assert.deepEqual(offending(builders, /\bEND_OF_ARCHIVE\b/), [], 'a tar builder of its own');
  assert.deepEqual(offending(builders, /mediaType: MediaType\.ImageConfig, \.\.\.|\bcommitImage\(/), [], 'an image builder of its own');
  // tree.ts describes an unpacked tree (owners, xattrs, hardlinks) to compare with its source: not a store's before and after.
  assert.deepEqual(offending(builders.filter(({ name }) => name !== 'tree.ts'), /createHash\('sha256'\)\.update\(readFileSync\(/), [], 'a snapshot of its own');
});

test('no test sleeps: a wait is for an event, with a deadline (waitFor in test/helpers.ts)', () => {
  assert.deepEqual(offending(rulesApplyTo, /\bsetTimeout\(|timers\/promises|\bsleep\(|\bdelay\(/), []);
});

test('no quiet skip: every skip goes through skipLoudly with a reason saying what is missing', () => {
  assert.deepEqual(offending(rulesApplyTo, /\.skip\(|\.todo\(|\{[^}]*\b(skip|todo):/), [], 't.skip, test.skip and { skip } only in skipLoudly');
  assert.deepEqual(offending(rulesApplyTo, /\bhaveTool\(/), [], 'a tool check that skips quietly: use requireTools');
  // A bare early return after a check of the machine: the test passes having checked nothing.
  assert.deepEqual(offending(rulesApplyTo, /if \(.*(existsSync|native\.\w+|getuid|spawnSync|\.code !== 0|\.status !== 0).*\)\s*(return\b|\{\s*return\b)/), []);
  assert.deepEqual(offending(rulesApplyTo, /\bskipLoudly\(t, (?!['`]SKIPPED)/), [], 'a skip reason starts SKIPPED: and says what is missing');
});

test('clean-ups go through atEnd: the last registered runs first, and one that fails does not stop the rest', () => {
  // node:test's after hooks run first-registered first and stop at the first that throws: a temp dir removed
  // under a running registry failed, the registry's stop never ran, and CI waited on it until its deadline.
  assert.deepEqual(offending(rulesApplyTo, /\bt\.after\(|\bafter\(/), []);
  assert.match(readFileSync(join(projectRoot, 'package.json'), 'utf8'), /node --test --test-force-exit /, 'a process a test leaves behind cannot hold a suite open');
});
