import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { projectRoot } from '../../src/util/project-root.js';
import { execa } from 'execa';
import { BIN, Rig } from '../helpers/rig.js';
import { mutate, mutationOf, type Mutation } from './mutate.js';

/**
 * Property-based mutation of the shipped pipelines, run through `validate` and
 * `round --n 3 --dry-run --json` (local backend) in a child process each, as a user would run them:
 * whatever the input, flux-train answers with exit 0, 1 or 2 and a message, never exit 70, a stack
 * trace or a hang. FLUX_FUZZ_RUNS sets the number of mutated pipelines (default 30, about a minute),
 * FLUX_FUZZ_SEED the seed (fixed, so CI is repeatable; a failure prints the seed and path to replay),
 * FLUX_FUZZ_BIN another flux-train entry point to test.
 */
const RUNS = Number(process.env['FLUX_FUZZ_RUNS'] ?? 30);
const SEED = Number(process.env['FLUX_FUZZ_SEED'] ?? 20261126);
/** per CLI call; a healthy call takes well under a second, so this only catches hangs */
const CALL_TIMEOUT_MS = 30_000;
export const SHIPPED = ['reasonflux-v2.yaml', 'tiny-cpu.yaml', 'demo-standin.yaml'];

/** FLUX_FUZZ_BIN runs the tier against another build, e.g. to see it find the crashes of an older one */
const BIN_UNDER_TEST = process.env['FLUX_FUZZ_BIN'] ?? BIN;

const rig = new Rig('fuzz');
const cli = (args: string[]) =>
  execa(process.execPath, [BIN_UNDER_TEST, ...args], { cwd: rig.dir, env: { FLUX_TRAIN_RENDERER: 'plain' }, reject: false, all: true, timeout: CALL_TIMEOUT_MS });
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

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;
const tally = new Map<string, number>();
let runNo = 0;
/** fast-check reports the counterexample, not the assertion; this keeps what the CLI printed */
let lastFailure: string | undefined;

async function check(m: Mutation): Promise<void> {
  const n = runNo++;
  const file = `pipelines/fuzz-${n}.yaml`;
  rig.write(file, mutate(texts[m.pipeline] as string, m));
  const calls = [
    ['validate', '--pipeline', file],
    ['round', '--n', '3', '--dry-run', '--json', '--backend', 'local', '--pipeline', file, '--run-dir', `runs/fuzz-${n}`],
  ];
  const results = await Promise.all(calls.map((args) => cli(args)));
  lastFailure = undefined;
  results.forEach((r, i) => {
    const what = `${(calls[i] as string[]).slice(0, 2).join(' ')} on ${file}`;
    const key = `${(calls[i] as string[])[0]} exit ${r.timedOut ? 'timeout' : r.exitCode}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
    const bad = r.timedOut ? 'hung' : ![0, 1, 2].includes(r.exitCode ?? -1) ? `exit ${r.exitCode}` : /internal error/.test(r.all) || STACK.test(r.all) ? 'stack trace' : undefined;
    if (bad) lastFailure = `${what}: ${bad}\n${r.all.slice(0, 4000)}`;
    assert.equal(r.timedOut, false, `${what}: hung for ${CALL_TIMEOUT_MS} ms`);
    assert.ok([0, 1, 2].includes(r.exitCode ?? -1), `${what}: exit ${r.exitCode}\n${r.all.slice(0, 3000)}`);
    assert.doesNotMatch(r.all, /internal error/, `${what}: internal error\n${r.all.slice(0, 3000)}`);
    assert.doesNotMatch(r.all, STACK, `${what}: a stack trace\n${r.all.slice(0, 3000)}`);
  });
}

describe('fuzz: mutated shipped pipelines through validate and round --dry-run', () => {
  it(`${RUNS} mutated pipelines (seed ${SEED}): exit 0/1/2, no stack trace, no hang`, { timeout: Math.max(120_000, RUNS * 2 * CALL_TIMEOUT_MS) }, async (t) => {
    try {
      await fc.assert(fc.asyncProperty(mutationOf(SHIPPED.length), check), { numRuns: RUNS, seed: SEED, endOnFailure: true });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n\nThe CLI said:\n${lastFailure ?? '(nothing recorded)'}\n\nReplay: node dist/test/fuzz/replay.js '<the Counterexample above>'`);
    }
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
    assert.match(mutate(base, { pipeline: 0, ops: [{ kind: 'dangling', at: 0 }], noise: [] }), /^name: \*nope$/m);
    assert.match(mutate(base, { pipeline: 0, ops: [{ kind: 'retype', at: 0, pick: 0 }], noise: [] }), /^name: constructor$/m);
    assert.match(mutate(base, { pipeline: 0, ops: [{ kind: 'bomb', width: 3, depth: 2 }], noise: [] }), /bomb0_2: &bomb0_2\n {2}- \*bomb0_1/);
  });
});
