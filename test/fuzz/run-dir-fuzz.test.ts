import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import fc from 'fast-check';
import { Rig } from '../helpers/rig.js';
import { standinEnv } from '../helpers/standin-env.js';
import type { CaseResult } from './run-dir-driver.js';
import type { RunEvent } from '../../src/run/events.js';
import { emptyState, reduce } from '../../src/state/state.js';

/**
 * Property: whatever state.json, lock.json and events.jsonl hold, `status`, `round --dry-run`,
 * `repair`, `unlock`, `report` and `logs` end with a documented exit code (never 70), print no stack trace, and
 * settle in bounded time. The run dirs start from a real finished run and are mutated at random
 * (values swapped for other JSON, fields removed, text truncated or garbled, event lines dropped,
 * duplicated or retyped, locks naming odd pids, hosts and heartbeats, a file where a folder belongs
 * or a folder where a file does).
 * FUZZ_RUNS sets the number of run dirs (default 300; each gets 6 commands); FUZZ_SEED replays one.
 */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);
const SEED = Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31);
const PER_CASE_MS = 15_000;
/** commands run against each mutated run dir */
const PER_DIR = 6;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A random path into a JSON value, then one edit there. */
const jsonEdit = fc.record({
  path: fc.array(fc.nat(), { maxLength: 6 }),
  op: fc.constantFrom('replace', 'delete', 'null', 'string', 'number', 'array', 'object', 'proto'),
  value: fc.jsonValue({ maxDepth: 2 }),
});

function applyEdit(root: Json, e: { path: number[]; op: string; value: unknown }): Json {
  if (typeof root !== 'object' || root === null) return e.value as Json;
  let parent: Record<string, Json> | Json[] = root;
  let key: string | number | undefined;
  for (const i of e.path) {
    const node: Json = key === undefined ? parent : (parent as Record<string, Json>)[key as string] ?? null;
    if (typeof node !== 'object' || node === null) break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    parent = node;
    key = Array.isArray(node) ? i % node.length : (keys[i % keys.length] as string);
  }
  if (key === undefined) return e.value as Json;
  const p = parent as Record<string, Json>;
  const k = key as string;
  switch (e.op) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[k];
      break;
    case 'null':
      p[k] = null;
      break;
    case 'string':
      p[k] = 'x';
      break;
    case 'number':
      p[k] = -1;
      break;
    case 'array':
      p[k] = [];
      break;
    case 'object':
      p[k] = {};
      break;
    case 'proto':
      if (!Array.isArray(parent)) Object.defineProperty(p, '__proto__', { value: p[k] ?? {}, enumerable: true, writable: true, configurable: true });
      break;
    default:
      p[k] = e.value as Json;
  }
  return root;
}

const textEdit = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('garble' as const), at: fc.nat(), text: fc.string({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('replace' as const), text: fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))) }),
);

type TextEdit = { kind: 'truncate'; at: number } | { kind: 'garble'; at: number; text: string } | { kind: 'replace'; text: string };

function applyText(text: string, e: TextEdit): string {
  switch (e.kind) {
    case 'truncate':
      return text.slice(0, e.at % (text.length + 1));
    case 'garble': {
      const at = e.at % (text.length + 1);
      return text.slice(0, at) + e.text + text.slice(at + e.text.length);
    }
    case 'replace':
      return e.text;
  }
}

const EVENT_TYPES = ['run-started', 'stage-planned', 'stage-skipped', 'stage-starting', 'stage-started', 'stage-reattached', 'stage-progress', 'stage-checkpoint', 'stage-finished', 'stage-failed', 'stage-interrupted', 'stage-retry', 'stage-blocked', 'stage-moved-aside', 'checkpoint-quarantined', 'serve-starting', 'serve-started', 'serve-ready', 'serve-reused', 'serve-failed', 'serve-stopped', 'lock-takeover', 'warning', 'run-finished', 'bogus'];

const lineEdit = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('json' as const), at: fc.nat(), edit: jsonEdit }),
  fc.record({ kind: fc.constant('type' as const), at: fc.nat(), type: fc.constantFrom(...EVENT_TYPES) }),
  fc.record({ kind: fc.constant('key' as const), at: fc.nat(), key: fc.constantFrom('__proto__', 'constructor', 'toString', 'r2/reasoner_dpo', '', 'r1/../../x', 'r0/a', 'r1/proposer_server') }),
  fc.record({ kind: fc.constant('text' as const), at: fc.nat(), edit: textEdit }),
);

function applyLine(lines: string[], e: { kind: string; at: number; [k: string]: unknown }): string[] {
  if (lines.length === 0) return lines;
  const i = e.at % lines.length;
  const line = lines[i] as string;
  const out = [...lines];
  const asJson = (): Record<string, Json> => JSON.parse(line) as Record<string, Json>;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  // an earlier edit left this line garbled: edit it as text
  if ((typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) && ['json', 'type', 'key'].includes(e.kind)) {
    out[i] = `${line}}`;
    return out;
  }
  switch (e.kind) {
    case 'drop':
      out.splice(i, 1);
      break;
    case 'dup':
      out.splice(i, 0, line);
      break;
    case 'json':
      out[i] = JSON.stringify(applyEdit(asJson(), e['edit'] as never));
      break;
    case 'type':
      out[i] = JSON.stringify({ ...asJson(), type: e['type'] as string });
      break;
    case 'key':
      out[i] = JSON.stringify({ ...asJson(), key: e['key'] as string }).replace('"key":', e['key'] === '__proto__' ? '"__proto__":{},"key":' : '"key":');
      break;
    case 'text':
      out[i] = applyText(line, e['edit'] as never);
      break;
  }
  return out;
}

/** The state with one stage's first attempt failed for `cause`. */
function withCause(stateText: string, stage: number, cause: string): string {
  const state = JSON.parse(stateText) as { stages: Record<string, { attempts: Record<string, unknown>[] }> };
  const stages = Object.values(state.stages);
  const attempt = stages[stage % stages.length]?.attempts[0];
  if (attempt) Object.assign(attempt, { outcome: 'failed', cause });
  return JSON.stringify(state);
}

/**
 * The demo pipeline has no serve stage: the seed run gets the servers a loop run would have left, so
 * the mutations reach state.json's `serves` and the serve events too (one stopped, one failed, one left ready).
 */
function withServers(stateText: string, events: string[]): { state: string; events: string[] } {
  const ts = (JSON.parse(events.at(-1) ?? '{}') as { ts?: string }).ts ?? new Date().toISOString();
  const handle = { backend: 'local', id: '4242', name: 'pid 4242', process: { pid: 4242, startTime: 1 } };
  const serveEvents: Record<string, unknown>[] = [
    ['r1/proposer_server', 1, 41001],
    ['r1/reasoner_server', 1, 41002],
    ['r1/reasoner_server', 2, 41003],
    ['r1/spare_server', 1, 41004],
  ].flatMap(([key, attempt, port]) => {
    const url = `http://127.0.0.1:${port}/v1`;
    return [
      { type: 'serve-starting', ts, key, attempt, port, url, servedName: String(key).split('/')[1], fingerprint: 'f', gpus: '0' },
      { type: 'serve-started', ts, key, attempt, handle },
      { type: 'serve-ready', ts, key, attempt, url, afterMs: 1234 },
    ];
  });
  serveEvents.push(
    { type: 'serve-failed', ts, key: 'r1/reasoner_server', attempt: 1, reason: 'died', message: 'r1/reasoner_server ended (exit 137) while r1/sample_pairs used it', evidence: ['Killed'] },
    { type: 'serve-reused', ts, key: 'r1/reasoner_server', attempt: 2, url: 'http://127.0.0.1:41003/v1', handle },
    { type: 'serve-stopped', ts, key: 'r1/proposer_server', attempt: 1, reason: 'its consumers are done' },
    { type: 'serve-stopped', ts, key: 'r1/reasoner_server', attempt: 2, reason: 'its consumers are done' },
  );
  // before run-finished, as a real run writes them
  const out = [...events];
  out.splice(Math.max(0, out.length - 1), 0, ...serveEvents.map((e) => JSON.stringify(e)));
  const state = emptyState();
  for (const line of out) reduce(state, JSON.parse(line) as RunEvent);
  const seeded = JSON.parse(stateText) as Record<string, unknown>;
  seeded['serves'] = state.serves;
  return { state: JSON.stringify(seeded), events: out };
}

const lockContent = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('', 'null', '{}', '42', '[]', '"x"', '{"pid":'),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc
    .record({
      pid: fc.oneof(fc.constantFrom(-1, 0, 1, 2, process.pid, 2 ** 31, 4.5), fc.integer()),
      host: fc.constantFrom(hostname(), 'other-host', ''),
      startTime: fc.option(fc.oneof(fc.nat(), fc.constant(-1)), { nil: undefined }),
      heartbeat: fc.oneof(fc.constantFrom('2999-01-01T00:00:00Z', 'not a time', '', new Date().toISOString()), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      startedAt: fc.string({ maxLength: 5 }),
      command: fc.string({ maxLength: 10 }),
    })
    .map((o) => JSON.stringify(o)),
);

/** Values that look like a cause code but are none this version knows (issue 16 review: report exited 70). */
const oddCause = fc.record({ kind: fc.constant('cause' as const), stage: fc.nat(), cause: fc.constantFrom('bogus', 'toString', '__proto__', 'constructor', 'hasOwnProperty', '', 'gpu-oom') });

const runDirCase = fc.record({
  state: fc.oneof(fc.constant({ kind: 'keep' as const }), fc.constant({ kind: 'missing' as const }), oddCause, fc.record({ kind: fc.constant('json' as const), edits: fc.array(jsonEdit, { minLength: 1, maxLength: 3 }) }), fc.record({ kind: fc.constant('text' as const), edit: textEdit })),
  events: fc.oneof(fc.constant([] as { kind: string; at: number }[]), fc.array(lineEdit, { minLength: 1, maxLength: 4 })),
  eventsMissing: fc.boolean(),
  lock: lockContent,
  /** a run-dir entry of the wrong type: a file where a folder belongs, or a folder where a file does */
  misplaced: fc.option(fc.constantFrom('logs', 'outputs', 'outputs/r1', 'trash', 'events.jsonl', 'flux-train.log'), { nil: undefined }),
});

describe('run dir fuzzing: mutated state.json, lock.json and events.jsonl', () => {
  const rig = new Rig('fuzz-rundir');
  let env: { env: string; keys: string };
  let base: string;
  before(async () => {
    await rig.demo(undefined, 8);
    env = await standinEnv(rig);
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'base', '--backend', 'local', '--local-env', env.env], { STANDIN_KEYS: env.keys });
    assert.equal(r.exitCode, 0, r.all);
    base = rig.path('base');
  });
  after(() => rig.cleanup());

  it(`${RUNS} mutated run dirs x ${PER_DIR} commands: no exit 70, no stack trace, no hang (seed ${SEED})`, { timeout: 30 * 60_000 }, async (t) => {
    const samples = fc.sample(runDirCase, { numRuns: RUNS, seed: SEED });
    const seeded = withServers(readFileSync(join(base, 'state.json'), 'utf8'), readFileSync(join(base, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== ''));
    const stateText = seeded.state;
    const eventLines = seeded.events;
    const seededState = JSON.parse(stateText) as { stages: Record<string, unknown>; serves: Record<string, unknown> };
    // `logs` reads a server's log by its key as well
    const stageKeys = [...Object.keys(seededState.stages), ...Object.keys(seededState.serves)];
    const cases: { id: number; args: string[] }[] = [];
    samples.forEach((c, n) => {
      const dir = rig.path('cases', String(n));
      mkdirSync(dir, { recursive: true });
      cpSync(join(base, 'outputs'), join(dir, 'outputs'), { recursive: true });
      if (c.state.kind === 'keep') writeFileSync(join(dir, 'state.json'), stateText);
      else if (c.state.kind === 'json') writeFileSync(join(dir, 'state.json'), JSON.stringify(c.state.edits.reduce((v: Json, e) => applyEdit(v, e), JSON.parse(stateText) as Json)));
      else if (c.state.kind === 'text') writeFileSync(join(dir, 'state.json'), applyText(stateText, c.state.edit));
      else if (c.state.kind === 'cause') writeFileSync(join(dir, 'state.json'), withCause(stateText, c.state.stage, c.state.cause));
      if (!c.eventsMissing) writeFileSync(join(dir, 'events.jsonl'), `${(c.events as { kind: string; at: number }[]).reduce<string[]>((ls, e) => applyLine(ls, e), eventLines).join('\n')}\n`);
      if (c.lock !== undefined) writeFileSync(join(dir, 'lock.json'), c.lock);
      if (c.misplaced !== undefined) {
        rmSync(join(dir, c.misplaced), { recursive: true, force: true });
        if (/\.(jsonl|log)$/.test(c.misplaced)) mkdirSync(join(dir, c.misplaced));
        else writeFileSync(join(dir, c.misplaced), 'x');
      }
      writeFileSync(join(dir, 'case.json'), JSON.stringify(c));
      const rd = ['--run-dir', dir];
      const id = n * PER_DIR;
      // report and logs first: repair would rewrite the mutated state they are to read
      cases.push({ id, args: ['report', ...rd] });
      cases.push({ id: id + 1, args: ['logs', stageKeys[n % stageKeys.length] as string, ...rd] });
      cases.push({ id: id + 2, args: ['status', ...rd] });
      cases.push({ id: id + 3, args: ['round', '--n', '1', '--pipeline', rig.path('pipelines/demo.yaml'), ...rd, '--backend', 'local', '--local-env', env.env, '--dry-run', '--json'] });
      cases.push({ id: id + 4, args: ['repair', ...rd] });
      cases.push({ id: id + 5, args: ['unlock', ...rd] });
    });
    const casesFile = rig.path('cases.json');
    const resultsFile = rig.path('results.json');
    writeFileSync(casesFile, JSON.stringify(cases));
    const driver = join(import.meta.dirname, 'run-dir-driver.js');
    const d = await execa(process.execPath, [driver, casesFile, resultsFile], { cwd: rig.dir, reject: false, all: true, timeout: cases.length * PER_CASE_MS, env: { STANDIN_KEYS: env.keys, FUZZ_HANG_MS: String(PER_CASE_MS) } });
    if (!existsSync(resultsFile)) {
      const progress = existsSync(`${resultsFile}.progress`) ? readFileSync(`${resultsFile}.progress`, 'utf8').trim().split('\n') : [];
      assert.fail(`the driver did not finish (${d.timedOut ? 'timed out: a synchronous hang' : `exit ${d.exitCode}`}); last case: ${progress.at(-1)}\n${d.all.slice(-2000)}`);
    }
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as CaseResult[];
    const crashes = results.filter((r) => r.exitCode === 70 || ![0, 1, 2, 3, 4].includes(r.exitCode) || /internal error|ESCAPED|\n\s+at \S+ \(/.test(r.output));
    const hangs = results.filter((r) => r.hang);
    const slowest = Math.max(...results.map((r) => r.ms));
    const codes = new Map<number, number>();
    for (const r of results) codes.set(r.exitCode, (codes.get(r.exitCode) ?? 0) + 1);
    t.diagnostic(`run-dir fuzz: ${samples.length} run dirs, ${results.length} command runs, ${crashes.length} crashes, ${hangs.length} hangs, slowest ${slowest} ms, exit codes ${JSON.stringify(Object.fromEntries(codes))}, seed ${SEED}`);
    const show = (r: CaseResult) => `case dir ${rig.path('cases', String(Math.floor(r.id / PER_DIR)))} (${readFileSync(rig.path('cases', String(Math.floor(r.id / PER_DIR)), 'case.json'), 'utf8').slice(0, 600)}): flux-train ${r.args.join(' ')} -> exit ${r.exitCode}\n${r.output.slice(0, 1500)}`;
    assert.equal(results.length, cases.length, hangs.length > 0 ? `hang: ${show(hangs[0] as CaseResult)}` : 'the driver stopped early');
    assert.equal(crashes.length, 0, crashes.slice(0, 3).map(show).join('\n\n'));
    assert.equal(hangs.length, 0);
  });
});
