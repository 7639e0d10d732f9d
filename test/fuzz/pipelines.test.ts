import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { projectRoot } from '../../src/util/project-root.js';
import { Rig } from '../helpers/rig.js';

/**
 * Property-based mutation of the shipped pipelines, run through `validate` and
 * `round --n 3 --dry-run --json` (local backend) in a child process each, as a user would run them:
 * whatever the input, flux-train answers with exit 0, 1 or 2 and a message, never exit 70, a stack
 * trace or a hang. FLUX_FUZZ_RUNS sets the number of mutated pipelines (default 30, about a minute),
 * FLUX_FUZZ_SEED the seed (fixed, so CI is repeatable; a failure prints the seed and path to replay).
 */
const RUNS = Number(process.env['FLUX_FUZZ_RUNS'] ?? 30);
const SEED = Number(process.env['FLUX_FUZZ_SEED'] ?? 20261126);
/** per CLI call; a healthy call takes well under a second, so this only catches hangs */
const CALL_TIMEOUT_MS = 30_000;
const SHIPPED = ['reasonflux-v2.yaml', 'tiny-cpu.yaml', 'demo-standin.yaml'];

const rig = new Rig('fuzz');
const texts: string[] = [];
before(async () => {
  await rig.demo();
  for (const f of SHIPPED) {
    cpSync(join(projectRoot, 'pipelines', f), rig.path('pipelines', f));
    texts.push(readFileSync(join(projectRoot, 'pipelines', f), 'utf8'));
  }
  // special files a mutation may point a path at
  execFileSync('mkfifo', [rig.path('.demo', 'data', 'fifo.jsonl')]);
  rig.write('.demo/data/list.json', '[1, 2]\n');
});
after(() => rig.cleanup());

// -- what a mutation may write

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
  | { kind: 'alias'; from: number; to: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: oddValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), name: keyName }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), name: keyName, value: oddValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), from: fc.nat(), to: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('alias' as const), from: fc.nat(), to: fc.nat() }) },
);
const noise = fc.array(fc.record({ pos: fc.nat(), kind: fc.constantFrom('flip', 'insert', 'delete'), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 });

export interface Mutation {
  pipeline: number;
  ops: Op[];
  noise: { pos: number; kind: 'flip' | 'insert' | 'delete'; byte: number }[];
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  pipeline: fc.nat({ max: SHIPPED.length - 1 }),
  ops: fc.array(op, { minLength: 1, maxLength: 3 }),
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
    out = doc.toString();
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

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;
const tally = new Map<string, number>();
let runNo = 0;

async function check(m: Mutation): Promise<void> {
  const n = runNo++;
  const file = `pipelines/fuzz-${n}.yaml`;
  rig.write(file, mutate(texts[m.pipeline] as string, m));
  const calls = [
    ['validate', '--pipeline', file],
    ['round', '--n', '3', '--dry-run', '--json', '--backend', 'local', '--pipeline', file, '--run-dir', `runs/fuzz-${n}`],
  ];
  const results = await Promise.all(calls.map((args) => rig.cli(args, {}, CALL_TIMEOUT_MS)));
  results.forEach((r, i) => {
    const what = `${(calls[i] as string[]).slice(0, 2).join(' ')} on ${file}`;
    const key = `${(calls[i] as string[])[0]} exit ${r.timedOut ? 'timeout' : r.exitCode}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
    assert.equal(r.timedOut, false, `${what}: hung for ${CALL_TIMEOUT_MS} ms`);
    assert.ok([0, 1, 2].includes(r.exitCode ?? -1), `${what}: exit ${r.exitCode}\n${r.all.slice(0, 3000)}`);
    assert.doesNotMatch(r.all, /internal error/, `${what}: internal error\n${r.all.slice(0, 3000)}`);
    assert.doesNotMatch(r.all, STACK, `${what}: a stack trace\n${r.all.slice(0, 3000)}`);
  });
}

describe('fuzz: mutated shipped pipelines through validate and round --dry-run', () => {
  it(`${RUNS} mutated pipelines (seed ${SEED}): exit 0/1/2, no stack trace, no hang`, { timeout: Math.max(120_000, RUNS * 2 * CALL_TIMEOUT_MS) }, async (t) => {
    await fc.assert(fc.asyncProperty(mutation, check), { numRuns: RUNS, seed: SEED, endOnFailure: true });
    t.diagnostic(`outcomes: ${[...tally].sort().map(([k, v]) => `${k}: ${v}`).join(', ')}`);
    // the mutations must reach past the YAML parser: some runs pass, some fail validation
    if (RUNS >= 20) {
      assert.ok((tally.get('validate exit 2') ?? 0) > 0, 'no mutation was refused');
      assert.ok((tally.get('round exit 0') ?? 0) > 0, 'no mutated pipeline planned');
    }
  });

  it('applies mutations as written (the generator is not a no-op)', () => {
    const base = 'name: t\nlist: [1, 2]\nmap: {a: 1}\n';
    assert.match(mutate(base, { pipeline: 0, ops: [{ kind: 'replace', at: 0, value: Number.NaN }], noise: [] }), /name: \.nan/);
    assert.match(mutate(base, { pipeline: 0, ops: [{ kind: 'rename', at: 0, name: '__proto__' }], noise: [] }), /__proto__: t/);
    assert.match(mutate(base, { pipeline: 0, ops: [{ kind: 'alias', from: 1, to: 5 }], noise: [] }), /list: &a0 \[ 1, 2 \][\s\S]*a: \*a0/);
    assert.doesNotMatch(mutate(base, { pipeline: 0, ops: [{ kind: 'delete', at: 1 }], noise: [] }), /list/);
  });
});
