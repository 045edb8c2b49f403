// tier: unit
/**
 * The code map's rules, checked over the sources: every folder sits on one
 * floor and a file imports only its own folder or a lower floor; no import
 * cycle between files or between folders, type-only and dynamic imports
 * included (a type cycle is a design cycle, and an `import()` is an import
 * that only runs later). Each check is a function over a graph, so it is also
 * run on a small graph with the violation it exists for planted in it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { projectRoot } from './helpers.js';

const srcDir = join(projectRoot, 'src');

/** File (relative to src/) → the src/ files it imports. */
type Graph = Map<string, string[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

/**
 * The src/ files one file names: `import … from`, `import '…'`, `export … from`
 * (`export *` too), `import('…')` and `typeof import('…')`, read by the
 * TypeScript parser, not a pattern, so neither a line break nor a comment hides one.
 */
function importsOf(file: string, text: string): string[] {
  const specifiers: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      // A computed specifier would escape every check below: refused outright.
      assert.ok(argument && ts.isStringLiteralLike(argument), `${file}: import() of a computed specifier; name the module literally`);
      specifiers.push(argument.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(parse(file, text));
  return specifiers.filter((specifier) => specifier.startsWith('.')).map((specifier) => relative(srcDir, resolve(dirname(join(srcDir, file)), specifier.replace(/\.js$/, '.ts'))));
}

function importGraph(): Graph {
  const graph: Graph = new Map();
  for (const path of sourceFiles(srcDir)) {
    const file = relative(srcDir, path);
    graph.set(file, importsOf(file, readFileSync(path, 'utf8')));
  }
  return graph;
}

/** The folder under src/ a file is in; `.` for src/errors.ts and src/text.ts. */
/** A file's folder under src/; the library's face (index.ts, what package.json exports) counts as a folder of its own. */
function folderOf(file: string): string {
  if (file === 'index.ts') return 'face';
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : '.';
}

/** Each cycle of a graph of names, as its chain `a → b → a`, found by depth-first search. */
function cyclesOf(edges: Map<string, Iterable<string>>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

function fileCycles(graph: Graph): string[] {
  return cyclesOf(graph).map((cycle) => cycle.join(' → '));
}

/** Folder → folder → one file import that makes the edge (the first, by file name): the evidence a report shows. */
function folderGraph(graph: Graph): Map<string, Map<string, string>> {
  const folders = new Map<string, Map<string, string>>();
  for (const file of [...graph.keys()].sort()) {
    const from = folderOf(file);
    if (!folders.has(from)) folders.set(from, new Map());
    for (const target of graph.get(file)!) {
      const to = folderOf(target);
      if (to !== from && !folders.get(from)!.has(to)) folders.get(from)!.set(to, `${file} → ${target}`);
    }
  }
  return folders;
}

/** Each folder cycle as its chain of folders, with one file import per hop as evidence. */
function folderCycles(graph: Graph): string[] {
  const folders = folderGraph(graph);
  const edges = new Map([...folders].map(([from, targets]) => [from, [...targets.keys()].sort()]));
  return cyclesOf(edges).map((cycle) => {
    const evidence = cycle.slice(1).map((to, hop) => folders.get(cycle[hop]!)!.get(to)!);
    return `${cycle.join(' → ')} (${evidence.join('; ')})`;
  });
}

interface Floor {
  name: string;
  folders: string[];
}

/** A same-floor import from one folder to another, allowed because it is listed here with its reason. */
interface Sideways {
  from: string;
  to: string;
  why: string;
}

/** A folder in no floor or in several: every folder is in exactly one. */
function floorPlacement(graph: Graph, floors: Floor[]): string[] {
  const folders = new Set([...graph.keys()].map(folderOf));
  const problems: string[] = [];
  for (const folder of [...folders].sort()) {
    const on = floors.filter((floor) => floor.folders.includes(folder)).map((floor) => floor.name);
    if (on.length !== 1) problems.push(`${folder === '.' ? 'src/*.ts' : `src/${folder}/`} is on ${on.length === 0 ? 'no floor' : `floors ${on.join(', ')}`}`);
  }
  for (const floor of floors) for (const folder of floor.folders) if (!folders.has(folder)) problems.push(`floor ${floor.name} lists ${folder}, which holds no source file`);
  return problems;
}

/**
 * Each import that does not point down: to a higher floor, or sideways to
 * another folder of the same floor without being listed; and each listed
 * sideways import that no file makes any more (an exception outliving its cause).
 */
function floorViolations(graph: Graph, floors: Floor[], sideways: Sideways[]): string[] {
  const floorOf = (file: string): number => floors.findIndex((floor) => floor.folders.includes(folderOf(file)));
  const used = new Set<Sideways>();
  const violations: string[] = [];
  for (const [file, targets] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
    for (const target of targets) {
      const [from, to] = [floorOf(file), floorOf(target)];
      if (from === -1 || to === -1 || folderOf(file) === folderOf(target) || to > from) continue;
      const listed = sideways.find((edge) => edge.from === folderOf(file) && edge.to === folderOf(target));
      if (to === from && listed) used.add(listed);
      else violations.push(`${file} (${floors[from]!.name}) imports ${target} (${floors[to]!.name})${to === from ? ': same floor, another folder, not listed' : ''}`);
    }
  }
  for (const edge of sideways) if (!used.has(edge)) violations.push(`the sideways import ${edge.from} → ${edge.to} is listed but no file makes it`);
  return violations;
}

/**
 * The floors, top first, as the imports have them. Operations that move
 * images between media (transports) use the operations on images; those use the
 * tree sources and observers, which read trees through layers/; everything
 * above the store keeps its images there; below it, the data model and
 * formats, then the plumbing, then the typed errors and text that all share.
 */
const floors: Floor[] = [
  // Above the cli, so neither imports the other: a program calls the face, a user the cli.
  { name: 'face', folders: ['face'] },
  { name: 'cli', folders: ['cli'] },
  { name: 'transports', folders: ['transports'] },
  { name: 'image operations', folders: ['image', 'registry', 'trust', 'split'] },
  // The one copy of an image between any two media's ends: the media (registry/, store/) implement the ends it takes.
  { name: 'the copy', folders: ['engine'] },
  { name: 'tree sources and observers', folders: ['pack', 'sbom'] },
  { name: 'layers', folders: ['layers'] },
  { name: 'store', folders: ['store'] },
  { name: 'data model', folders: ['oci', 'tar', 'compress', 'par2'] },
  { name: 'plumbing', folders: ['io', 'native'] },
  { name: 'errors and text', folders: ['.'] },
];

/** Same-floor imports between folders, each with its reason; none today. */
const sideways: Sideways[] = [
  { from: 'oci', to: 'compress', why: "oci/layer-media.ts judges a layer's media type against the compression its bytes have (compress's Compression); compress imports nothing of oci" },
];

const graph = importGraph();

/** The source text of each file, for the "no second X" guards. */
const sources = new Map(sourceFiles(srcDir).map((path) => [relative(srcDir, path), readFileSync(path, 'utf8')]));

const renameNames = new Set(['rename', 'renameSync']);

/**
 * Where a file renames: a call of rename/renameSync (bare or as fs.rename),
 * or rename imported under any name from node:fs, as `file:line what`.
 */
function renames(file: string, text: string): string[] {
  const source = parse(file, text);
  const found: string[] = [];
  const at = (node: ts.Node, what: string): void => {
    found.push(`${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${what}`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
      if (name !== undefined && renameNames.has(name)) at(node, `calls ${callee.getText(source)}()`);
    } else if (ts.isImportSpecifier(node) && renameNames.has((node.propertyName ?? node.name).text)) {
      at(node, `imports ${(node.propertyName ?? node.name).text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('the import graph is read: files and edges found, dynamic and type imports included', () => {
  assert.ok(graph.size > 50, `only ${graph.size} source files found under ${srcDir}`);
  assert.ok(graph.get('cli/main.ts')?.includes('cli/report.ts'), 'cli/main.ts → cli/report.ts not seen: the import parser is broken');
  assert.ok(graph.get('cli/commands.ts')?.includes('cli/pack.ts'), "cli/commands.ts → cli/pack.ts (an import()) not seen");
  for (const [file, targets] of graph) for (const target of targets) assert.ok(graph.has(target), `${file} imports ${target}, which is not a source file`);
});

test('the parser sees import(), typeof import(), export * and a bare import, across lines and comments', () => {
  const text = [
    "import type { A } from '../oci/types.js';",
    "import '../io/temp.js';",
    "export * from '../tar/header.js';",
    "export {\n  b, // a comment with ';'\n} from '../io/durable.js';",
    "type T = typeof import('../trust/index.js');",
    "const lazy = () => import(/* later */ '../cli/main.js');",
    "import { readFile } from 'node:fs/promises';",
  ].join('\n');
  assert.deepEqual(importsOf('store/gc.ts', text).sort(), ['cli/main.ts', 'io/durable.ts', 'io/temp.ts', 'oci/types.ts', 'tar/header.ts', 'trust/index.ts']);
  assert.throws(() => importsOf('store/gc.ts', 'const name = "x"; await import(`../cli/${name}.js`);'), /computed specifier/);
});

test('src/ has no import cycle between files', () => {
  assert.deepEqual(fileCycles(graph), []);
});

test('src/ has no import cycle between folders', () => {
  assert.deepEqual(folderCycles(graph), []);
});

test('every folder is on exactly one floor', () => {
  assert.deepEqual(floorPlacement(graph, floors), []);
});

test('imports point down only: own folder or a lower floor', () => {
  assert.deepEqual(floorViolations(graph, floors, sideways), []);
});

test('nothing outside src/cli imports from src/cli', () => {
  const intoCli = [...graph].flatMap(([file, targets]) => (file.startsWith('cli/') ? [] : targets.filter((target) => target.startsWith('cli/')).map((target) => `${file} imports ${target}`)));
  assert.deepEqual(intoCli, []);
});

test('only io/durable.ts renames into place (placeAtomically): no second atomic-replace', () => {
  const elsewhere = [...sources].flatMap(([file, text]) => (file === 'io/durable.ts' ? [] : renames(file, text)));
  assert.deepEqual(elsewhere, []);
  assert.ok(renames('io/durable.ts', sources.get('io/durable.ts')!).length > 0, 'io/durable.ts renames nothing: the guard no longer sees the primitive');
  const planted = "import { rename as move } from 'node:fs/promises';\nimport * as fs from 'node:fs';\n// rename(2) replaces an empty directory\nawait move(a, b);\nfs.renameSync(a, b);\n";
  assert.deepEqual(renames('split/split.ts', planted), ['split/split.ts:1 imports rename', 'split/split.ts:5 calls fs.renameSync()']);
});

/** A numeric expression that spells a byte size: 4 * 1024 * 1024, 64 * 1024, 4 << 20, 2 ** 30. */
function isByteSize(node: ts.Expression): boolean {
  if (ts.isParenthesizedExpression(node)) return isByteSize(node.expression);
  if (!ts.isBinaryExpression(node)) return false;
  const kibibytes = (side: ts.Expression): boolean => ts.isNumericLiteral(side) && Number(side.text) >= 1024 && Number(side.text) % 1024 === 0;
  const numeric = (side: ts.Expression): boolean => ts.isNumericLiteral(side) || isByteSize(side);
  switch (node.operatorToken.kind) {
    case ts.SyntaxKind.LessThanLessThanToken:
    case ts.SyntaxKind.AsteriskAsteriskToken:
      return numeric(node.left) && numeric(node.right);
    case ts.SyntaxKind.AsteriskToken:
      return numeric(node.left) && numeric(node.right) && [node.left, node.right].some((side) => kibibytes(side) || isByteSize(side));
    default:
      return false;
  }
}

const capName = /cap|limit|^max|budget/i;

/**
 * Where a file defines a size cap of its own: a constant or property named
 * like a cap (cap, limit, max…) set to a byte size, or a size compared with
 * a byte size written out, as `file:line text`.
 */
function byteCaps(file: string, text: string): string[] {
  const source = parse(file, text);
  const found: string[] = [];
  const at = (node: ts.Node): void => {
    found.push(`${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${node.getText(source)}`);
  };
  const comparisons = new Set([ts.SyntaxKind.GreaterThanToken, ts.SyntaxKind.GreaterThanEqualsToken, ts.SyntaxKind.LessThanToken, ts.SyntaxKind.LessThanEqualsToken]);
  const visit = (node: ts.Node): void => {
    if ((ts.isVariableDeclaration(node) || ts.isPropertyAssignment(node)) && node.initializer && capName.test(node.name.getText(source)) && isByteSize(node.initializer)) at(node);
    else if (ts.isBinaryExpression(node) && comparisons.has(node.operatorToken.kind) && (isByteSize(node.left) || isByteSize(node.right))) at(node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Size caps that are not of a document we parse, each with its reason. */
const otherCaps: Array<{ at: RegExp; why: string }> = [
  { at: /^tar\/reader\.ts:\d+ (META_LIMIT|TRAILER_LIMIT) =/, why: 'a pax extended header and the zero blocks after an archive: tar format, not JSON' },
  { at: /^sbom\/collect\.ts:\d+ (textCap|rpmCap) =/, why: "a package database spooled from a layer (dpkg status, an rpmdb): the distribution's, not a document of ours" },
  { at: /^sbom\/rpm-header\.ts:\d+ (maxData|maxHeaderBytes) =/, why: "rpm's own header limits (lib/header.c)" },
];

test('one table of document caps: no size cap of its own outside io/metadata.ts documentCaps', () => {
  const own = [...sources].flatMap(([file, text]) => (file === 'io/metadata.ts' ? [] : byteCaps(file, text))).filter((found) => !otherCaps.some((cap) => cap.at.test(found)));
  assert.deepEqual(own, []);
  for (const cap of otherCaps) assert.ok([...sources].some(([file, text]) => byteCaps(file, text).some((found) => cap.at.test(found))), `${cap.at} is listed but no longer found`);
  const planted = [
    'const manifestSizeCap = 4 * 1024 * 1024;',
    'const kind = { what: "have file", sizeCap: 128 << 20 };',
    'if (config.size > 8 * 1024 * 1024) throw new Error();',
    'const readChunk = 1 << 20; const maxRetries = 5;',
  ].join('\n');
  assert.deepEqual(byteCaps('registry/client.ts', planted), [
    'registry/client.ts:1 manifestSizeCap = 4 * 1024 * 1024',
    'registry/client.ts:2 sizeCap: 128 << 20',
    'registry/client.ts:3 config.size > 8 * 1024 * 1024',
  ]);
});

test('the checks catch what they exist for, on a planted graph', () => {
  const planted: Graph = new Map([
    // A dynamic import of cli/ from the store: upward, and (with cli → store) a folder cycle.
    ['store/gc.ts', importsOf('store/gc.ts', "export async function gc() { await import('../cli/report.js'); }")],
    ['cli/report.ts', ['store/store.ts']],
    ['store/store.ts', []],
    // image ↔ formats through different files: no file cycle, a folder cycle.
    ['image/a.ts', ['formats/b.ts']],
    ['formats/b.ts', ['io/c.ts']],
    ['formats/d.ts', ['image/e.ts']],
    ['image/e.ts', []],
    ['io/c.ts', []],
    ['pack/f.ts', ['sbom/g.ts']],
    ['sbom/g.ts', []],
    ['stray/h.ts', []],
  ]);
  const plantedFloors: Floor[] = [
    { name: 'top', folders: ['cli', 'formats'] },
    { name: 'middle', folders: ['image', 'pack', 'sbom', 'io'] },
    { name: 'bottom', folders: ['store', 'io'] },
  ];
  assert.deepEqual(fileCycles(planted), []);
  assert.deepEqual(folderCycles(planted), [
    'cli → store → cli (cli/report.ts → store/store.ts; store/gc.ts → cli/report.ts)',
    'formats → image → formats (formats/d.ts → image/e.ts; image/a.ts → formats/b.ts)',
  ]);
  assert.deepEqual(floorPlacement(planted, plantedFloors), ['src/io/ is on floors middle, bottom', 'src/stray/ is on no floor']);
  assert.deepEqual(floorViolations(planted, plantedFloors, [{ from: 'image', to: 'sbom', why: 'planted, unused' }]), [
    'image/a.ts (middle) imports formats/b.ts (top)',
    'pack/f.ts (middle) imports sbom/g.ts (middle): same floor, another folder, not listed',
    'store/gc.ts (bottom) imports cli/report.ts (top)',
    'the sideways import image → sbom is listed but no file makes it',
  ]);
  // Listed, the sideways import passes; the upward ones still do not.
  assert.deepEqual(floorViolations(planted, plantedFloors, [{ from: 'pack', to: 'sbom', why: 'planted' }]), [
    'image/a.ts (middle) imports formats/b.ts (top)',
    'store/gc.ts (bottom) imports cli/report.ts (top)',
  ]);
});

/** A command's own file (it registers a CommandModule) is named by its command; the map names every other file. */
test('docs/architecture.md names every source file', () => {
  const map = readFileSync(join(projectRoot, 'docs', 'architecture.md'), 'utf8');
  const unnamed = [...graph.keys()].filter((file) => {
    if (file.startsWith('cli/') && /export const \w+Command: CommandModule/.test(readFileSync(join(srcDir, file), 'utf8'))) return false;
    return !map.includes(file) && !map.includes(`\`${file.slice(file.lastIndexOf('/') + 1)}\``);
  });
  assert.deepEqual(unnamed, [], 'name each in its folder\'s row of docs/architecture.md (what it holds, in a few words)');
});

