import fc from 'fast-check';
import { isMap, isScalar, isSeq, parseDocument, type Document, type Node, type YAMLSeq } from 'yaml';

/**
 * Structure-aware mutations of a pipeline file for the fuzz tier: odd values (types, special names,
 * NaN and huge numbers, special paths), deleted, renamed and added keys, duplicated and aliased nodes,
 * and byte noise on top. Replay a failure with `node dist/test/fuzz/replay.js '<counterexample JSON>'`.
 */

const NAMES = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'prototype', 'then', 'length'];
const PATHS = ['/dev/zero', '.', '..', '/', '../.demo/data/fifo.jsonl', '/etc/passwd', '/proc/self/status', '../../../../tmp/x/data.jsonl', '../.demo/data/list.json', '../.demo/data', '~', 'C:\\x'];
const STRINGS = ['', ' ', 'x:latest', 'all', 'none', 'previous', 'same', 'default', 'z3', '{round}', '*a', '&a', '- x', 'true', '1e5', 'NaN', '0,1', 'a'.repeat(5000), '\u0000', 'é\u202e'];
const NUMBERS = [Number.NaN, Infinity, -Infinity, -1, 0, 1, 0.5, 3, 9, 1e308, -1e308, 1_000_000_000, 2 ** 53, 5e-324];

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(null, true, false, [], {}, [1, 2], { a: 1 }, { base: 'tiny' }, { stage: 'proposer_sft' }, { from: 3, to: 1 }),
  fc.constantFrom(...NAMES, ...PATHS, ...STRINGS),
  fc.constantFrom(...NUMBERS),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 2 }),
);
const keyName = fc.oneof(fc.constantFrom(...NAMES, 'stages', 'kind', 'args', 'deepspeed', 'image', 'env', 'outputs', 'rounds', 'HF_TOKEN', '<<'), fc.string({ maxLength: 8 }));

type Op =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'delete'; at: number }
  | { kind: 'rename'; at: number; name: string }
  | { kind: 'insert'; at: number; name: string; value: unknown }
  | { kind: 'duplicate'; from: number; to: number }
  | { kind: 'alias'; from: number; to: number }
  /** a leaf replaced by a special value of its own kind, or by another value of the file (an id where a path was) */
  | { kind: 'retype'; at: number; pick: number }
  | { kind: 'dangling'; at: number }
  | { kind: 'bomb'; width: number; depth: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: oddValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), name: keyName }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), name: keyName, value: oddValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), from: fc.nat(), to: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('alias' as const), from: fc.nat(), to: fc.nat() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('retype' as const), at: fc.nat(), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dangling' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bomb' as const), width: fc.integer({ min: 2, max: 12 }), depth: fc.integer({ min: 1, max: 3 }) }) },
);
const noise = fc.array(fc.record({ pos: fc.nat(), kind: fc.constantFrom('flip', 'insert', 'delete'), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 });

/** One mutated pipeline: which shipped file, the structural edits, then byte noise. */
export interface Mutation {
  pipeline: number;
  ops: Op[];
  noise: { pos: number; kind: 'flip' | 'insert' | 'delete'; byte: number }[];
}
export const mutationOf = (pipelines: number): fc.Arbitrary<Mutation> =>
  fc.record({
    pipeline: fc.nat({ max: pipelines - 1 }),
    ops: fc.array(op, { minLength: 1, maxLength: 4 }),
    // most runs keep the YAML well-formed so that they reach the schema and the plan
    noise: fc.oneof({ weight: 4, arbitrary: fc.constant([] as Mutation['noise']) }, { weight: 1, arbitrary: noise }),
  });

type Path = (string | number)[];

/** Every node's path in the document, maps and lists included. */
function paths(doc: Document): Path[] {
  const out: Path[] = [];
  const walk = (node: unknown, at: Path) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const p = [...at, String(pair.key.value)];
        out.push(p);
        walk(pair.value, p);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const p = [...at, i];
        out.push(p);
        walk(item, p);
      });
    }
  };
  walk(doc.contents, []);
  return out;
}

const DANGLING = 'flux-fuzz-dangling-alias';

/** The paths of scalar leaves, and the scalar values of the whole file. */
function leaves(doc: Document, all: Path[]): { path: Path; value: unknown }[] {
  const out: { path: Path; value: unknown }[] = [];
  for (const p of all) {
    const node = doc.getIn(p, true);
    if (isScalar(node)) out.push({ path: p, value: node.value });
  }
  return out;
}

/** A special value of the same kind as `value`: strings become odd names, paths or other strings of the file. */
function sameKind(value: unknown, pick: number, fileStrings: string[]): unknown {
  const from = <T>(xs: readonly T[]): T => xs[pick % xs.length] as T;
  if (typeof value === 'number') return from(NUMBERS);
  if (typeof value === 'boolean') return from(['true', 1, null, 'yes']);
  if (typeof value === 'string') return from([...NAMES, ...NAMES, ...PATHS, ...PATHS, ...STRINGS, ...fileStrings]);
  return from([null, '', 0]);
}

/** The mutated pipeline text; an operation the YAML API refuses is skipped, as a user could not write it either. */
export function mutate(text: string, m: Mutation): string {
  const doc = parseDocument(text);
  let anchors = 0;
  for (const o of m.ops) {
    const all = paths(doc);
    if (all.length === 0) break;
    const pick = (i: number) => all[i % all.length] as Path;
    try {
      switch (o.kind) {
        case 'retype': {
          const ls = leaves(doc, all);
          if (ls.length === 0) break;
          const leaf = ls[o.at % ls.length] as { path: Path; value: unknown };
          const strings = ls.map((l) => l.value).filter((v): v is string => typeof v === 'string' && v.length < 80);
          doc.setIn(leaf.path, doc.createNode(sameKind(leaf.value, o.pick, strings)));
          break;
        }
        case 'dangling':
          // the YAML library will not write an alias without its anchor; a placeholder becomes one below
          doc.setIn(pick(o.at), doc.createNode(DANGLING));
          break;
        case 'bomb': {
          // a: &b0 [x, x, ...], b: &b1 [*b0, *b0, ...], ...: each level multiplies by `width`
          const first = doc.createNode(Array.from({ length: o.width }, () => 'x')) as YAMLSeq;
          first.anchor = `bomb${anchors}_0`;
          doc.set(`bomb${anchors}_0`, first);
          let prev: YAMLSeq = first;
          for (let d = 1; d <= o.depth; d++) {
            const level = doc.createNode([]) as YAMLSeq;
            for (let i = 0; i < o.width; i++) level.add(doc.createAlias(prev));
            level.anchor = `bomb${anchors}_${d}`;
            doc.set(`bomb${anchors}_${d}`, level);
            prev = level;
          }
          anchors++;
          break;
        }
        case 'replace':
          doc.setIn(pick(o.at), doc.createNode(o.value));
          break;
        case 'delete':
          doc.deleteIn(pick(o.at));
          break;
        case 'rename': {
          const p = pick(o.at);
          const parent = p.length === 1 ? doc.contents : doc.getIn(p.slice(0, -1), true);
          if (isMap(parent)) {
            const pair = parent.items.find((x) => isScalar(x.key) && String(x.key.value) === String(p[p.length - 1]));
            if (pair) pair.key = doc.createNode(o.name);
          }
          break;
        }
        case 'insert': {
          const p = pick(o.at);
          const target = doc.getIn(p, true);
          if (isMap(target)) target.set(doc.createNode(o.name), doc.createNode(o.value));
          else if (isSeq(target)) target.add(doc.createNode(o.value));
          break;
        }
        case 'duplicate': {
          const node = doc.getIn(pick(o.from), true) as Node | undefined;
          const to = pick(o.to);
          const target = doc.getIn(to, true);
          const copy = node && typeof (node as { clone?: unknown }).clone === 'function' ? (node as Node & { clone(): Node }).clone() : doc.createNode(node);
          if (isSeq(target)) target.add(copy);
          else doc.setIn(to, copy);
          break;
        }
        case 'alias': {
          const node = doc.getIn(pick(o.from), true) as Node | undefined;
          if (!node || !(isMap(node) || isSeq(node) || isScalar(node))) break;
          node.anchor ??= `a${anchors++}`;
          doc.setIn(pick(o.to), doc.createAlias(node as Parameters<Document['createAlias']>[0]));
          break;
        }
      }
    } catch {
      // e.g. setIn below a scalar
    }
  }
  let out: string;
  try {
    out = doc.toString().replaceAll(DANGLING, '*nope');
  } catch {
    out = text;
  }
  if (m.noise.length === 0) return out;
  const bytes = [...Buffer.from(out)];
  for (const n of m.noise) {
    const pos = n.pos % Math.max(bytes.length, 1);
    if (n.kind === 'flip') bytes[pos] = n.byte;
    else if (n.kind === 'insert') bytes.splice(pos, 0, n.byte);
    else bytes.splice(pos, 1);
  }
  return Buffer.from(bytes).toString('latin1');
}

