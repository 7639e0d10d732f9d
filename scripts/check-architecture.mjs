#!/usr/bin/env node
// Measures the shape of src/ against the rules in ARCHITECTURE.md: no function over 80 lines, no file
// over 350 lines, no import from a lower layer to a higher one, no import cycle.
// Usage: node scripts/check-architecture.mjs [--json] [--warn-only]
// Exits 1 when a rule is broken (0 with --warn-only), so CI can hold the line once it is reached.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const MAX_FUNCTION_LINES = 80;
const MAX_FILE_LINES = 350;

/**
 * Layers from the ground up: a file may import its own layer or lower ones. The first matching
 * prefix names a file's layer; keep this table and ARCHITECTURE.md in step.
 */
const LAYERS = [
  ['util', ['src/util/']],
  // the vocabulary of a run (events, failure causes): what state folds, llamafactory reads and the executor emits
  ['events', ['src/run/events.ts', 'src/run/causes.ts']],
  ['llamafactory', ['src/llamafactory/']],
  ['pipeline', ['src/pipeline/', 'src/planner/']],
  // what every backend promises (types only): the state and the executor talk to it, never to one backend
  ['backend-api', ['src/backends/backend.ts']],
  ['state', ['src/state/']],
  ['run', ['src/run/']],
  ['backends/ui/report', ['src/backends/', 'src/ui/', 'src/report/', 'src/serve/']],
  ['session', ['src/session/']],
  ['commands', ['src/commands/']],
  ['cli', ['src/cli.ts']],
];

function layerOf(file) {
  const rel = relative(root, file).split('\\').join('/');
  const i = LAYERS.findIndex(([, prefixes]) => prefixes.some((p) => rel === p || rel.startsWith(p)));
  return i === -1 ? undefined : i;
}

const files = readdirSync(src, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => join(src, f))
  .sort();

const problems = { longFunctions: [], longFiles: [], upwardImports: [], unlayered: [], cycles: [] };
const graph = new Map();

for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const rel = relative(root, file);
  const lines = text.split('\n').length;
  if (lines > MAX_FILE_LINES) problems.longFiles.push({ file: rel, lines });
  const from = layerOf(file);
  if (from === undefined) problems.unlayered.push({ file: rel });
  const edges = [];
  const visit = (node) => {
    if (
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessorDeclaration(node)
    ) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const n = end - start + 1;
      if (n > MAX_FUNCTION_LINES) problems.longFunctions.push({ file: rel, line: start + 1, name: nameOf(node), lines: n });
    }
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      addEdge(node.moduleSpecifier.text, node.importClause?.isTypeOnly ?? false);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      addEdge(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  const addEdge = (spec, typeOnly) => {
    if (!spec.startsWith('.')) return;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    edges.push(target);
    const to = layerOf(target);
    if (from !== undefined && to !== undefined && to > from) {
      problems.upwardImports.push({ file: rel, imports: relative(root, target), from: LAYERS[from][0], to: LAYERS[to][0], typeOnly });
    }
  };
  visit(sf);
  graph.set(file, edges);
}

function nameOf(node) {
  if (node.name && (ts.isIdentifier(node.name) || ts.isPrivateIdentifier(node.name))) return node.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) return p.name.text;
  return '(anonymous)';
}

// Tarjan's strongly connected components: every component of more than one file is a cycle.
{
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(relative(root, w));
      } while (w !== v);
      if (comp.length > 1) problems.cycles.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
}

const count = Object.values(problems).reduce((n, l) => n + l.length, 0);
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify({ files: files.length, problems }, null, 2)}\n`);
} else {
  const say = (title, list, fmt) => {
    console.log(`${title}: ${list.length}`);
    for (const p of list) console.log(`  ${fmt(p)}`);
  };
  console.log(`src/: ${files.length} files; limits: functions <= ${MAX_FUNCTION_LINES} lines, files <= ${MAX_FILE_LINES} lines`);
  say('functions over the limit', problems.longFunctions, (p) => `${p.file}:${p.line} ${p.name} (${p.lines} lines)`);
  say('files over the limit', problems.longFiles, (p) => `${p.file} (${p.lines} lines)`);
  say('imports from a lower layer to a higher one', problems.upwardImports, (p) => `${p.file} -> ${p.imports} (${p.from} -> ${p.to}${p.typeOnly ? ', type only' : ''})`);
  say('files in no layer', problems.unlayered, (p) => p.file);
  say('import cycles', problems.cycles, (c) => c.join(' -> '));
}
process.exitCode = count > 0 && !process.argv.includes('--warn-only') ? 1 : 0;
