// tier: unit
/**
 * The code map's rules, checked over the sources: imports point down only
 * (cli → operations → store → the data model and plumbing) and there is no
 * import cycle, type-only imports included (a type cycle is a design cycle).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from './helpers.js';

const srcDir = join(projectRoot, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Each source file (relative to src/) and the src/ files its static `import`/`export … from` lines name. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.{1,2}\/[^']+)'/gm)].map((match) =>
      relative(srcDir, resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts'))),
    );
    graph.set(relative(srcDir, file), targets);
  }
  return graph;
}

const graph = importGraph();

test('the import graph is read: files and edges found', () => {
  assert.ok(graph.size > 50, `only ${graph.size} source files found under ${srcDir}`);
  assert.ok(graph.get('cli/main.ts')?.includes('cli/report.ts'), 'cli/main.ts → cli/report.ts not seen: the import parser is broken');
  for (const [file, targets] of graph) for (const target of targets) assert.ok(graph.has(target), `${file} imports ${target}, which is not a source file`);
});

test('src/ has no import cycle', () => {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].join(' → '));
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});

/** The layers, top first: a file may import its own layer or one below it. */
const layers: Array<{ name: string; folders: string[] }> = [
  { name: 'cli', folders: ['cli'] },
  { name: 'operations', folders: ['image', 'layers', 'formats', 'split', 'registry', 'pack', 'trust', 'sbom'] },
  { name: 'store', folders: ['store'] },
  { name: 'base', folders: ['oci', 'tar', 'compress', 'io', 'native', '.'] },
];

function layerOf(file: string): number {
  const folder = file.includes('/') ? file.slice(0, file.indexOf('/')) : '.';
  const index = layers.findIndex((layer) => layer.folders.includes(folder));
  assert.notEqual(index, -1, `${file}: folder ${folder} is in no layer of the code map; add it to this test and docs/architecture.md`);
  return index;
}

test('imports point down only: cli → operations → store → oci/tar/compress/io', () => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) if (layerOf(target) < layerOf(file)) upward.push(`${file} (${layers[layerOf(file)]!.name}) imports ${target} (${layers[layerOf(target)]!.name})`);
  }
  assert.deepEqual(upward, []);
});

test('nothing outside src/cli imports from src/cli', () => {
  const intoCli = [...graph].flatMap(([file, targets]) => (file.startsWith('cli/') ? [] : targets.filter((target) => target.startsWith('cli/')).map((target) => `${file} imports ${target}`)));
  assert.deepEqual(intoCli, []);
});
