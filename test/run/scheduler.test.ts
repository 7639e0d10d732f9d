import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Plan } from '../../src/pipeline/plan-types.js';
import { decideActions } from '../../src/state/actions.js';
import { fingerprintPlan } from '../../src/state/fingerprint.js';
import { emptyState, reduce, type RunState } from '../../src/state/state.js';
import type { RunEvent } from '../../src/run/events.js';
import { Scheduler } from '../../src/run/scheduler.js';
import { FakeBackend, type Script } from '../helpers/fake-backend.js';
import { Rig } from '../helpers/rig.js';
import { COMMAND_PIPELINE, commandPlan } from '../helpers/command-plan.js';
import type { Pipeline } from '../../src/pipeline/load.js';

const rig = new Rig('scheduler');
after(() => rig.cleanup());

const setup = () => commandPlan(rig);

interface Ran {
  exitCode: number;
  outcomes: Record<string, string>;
  events: RunEvent[];
  state: RunState;
  backend: FakeBackend;
}

async function run(scripts: Record<string, Script[]>, o: { interrupt?: AbortController; detach?: boolean; maxAttempts?: number; state?: RunState; plan?: { p: Pipeline; plan: Plan }; maxParallel?: number; keepGoing?: boolean } = {}): Promise<Ran> {
  const { p, plan } = o.plan ?? setup();
  const backend = new FakeBackend(scripts);
  const fps = fingerprintPlan(plan, { hashData: false });
  let state = o.state ?? emptyState();
  const actions = decideActions(plan, fps, state, new Map());
  const events: RunEvent[] = [];
  const interrupt = o.interrupt ?? new AbortController();
  const result = await new Scheduler({
    plan,
    runId: 'run-test',
    backend,
    keySet: p.keySet,
    fingerprints: fps,
    actions,
    initial: state,
    emit: (e) => {
      events.push(e);
      state = reduce(state, e);
    },
    maxAttempts: o.maxAttempts ?? 3,
    backoffSeconds: 0,
    graceSeconds: 1,
    interrupt: interrupt.signal,
    detach: o.detach ?? false,
    pollMs: 5,
    ...(o.maxParallel !== undefined ? { maxParallel: o.maxParallel } : {}),
    ...(o.keepGoing !== undefined ? { keepGoing: o.keepGoing } : {}),
  }).run();
  return { exitCode: result.exitCode, outcomes: Object.fromEntries(result.outcomes), events, state, backend };
}

const types = (r: Ran, key: string) => r.events.filter((e) => 'key' in e && e.key === key).map((e) => e.type);

describe('scheduler (fake backend)', () => {
  it('runs the stages in order, each after its input is verified, and records them done', async () => {
    const r = await run({});
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.outcomes, { 'r1/gen': 'done', 'r1/use': 'done' });
    assert.deepEqual(types(r, 'r1/gen'), ['stage-starting', 'stage-started', 'stage-finished']);
    assert.deepEqual(r.backend.started.map((j) => `${j.stage.key}#${j.attempt}`), ['r1/gen#1', 'r1/use#1']);
    assert.deepEqual(r.backend.released, ['c-r1/gen-1', 'c-r1/use-1']);
    assert.equal(r.state.stages['r1/use']?.status, 'done');
  });

  it('retries a transient failure from the backend verdict, then finishes', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 1, outputs: false, verdict: { cause: 'node-failure', evidence: 'Slurm job state NODE_FAIL', logLines: 3 } }, { kind: 'exit', exitCode: 0 }] });
    assert.equal(r.exitCode, 0);
    const failed = r.events.find((e) => e.type === 'stage-failed');
    assert.ok(failed?.type === 'stage-failed');
    assert.equal(failed.cause, 'node-failure');
    assert.equal(failed.willRetry, true);
    assert.deepEqual(failed.evidence, ['Slurm job state NODE_FAIL']);
    assert.deepEqual(r.backend.started.map((j) => j.attempt), [1, 2, 1]);
  });

  it('gives up on a deterministic failure and blocks what depends on it', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 1, outputs: false, log: ['Traceback (most recent call last):', 'ValueError: Undefined dataset foo in dataset_info.json.'] }] });
    assert.equal(r.exitCode, 1);
    assert.deepEqual(r.outcomes, { 'r1/gen': 'failed', 'r1/use': 'blocked' });
    const failed = r.events.find((e) => e.type === 'stage-failed');
    assert.ok(failed?.type === 'stage-failed');
    assert.equal(failed.cause, 'config-undefined-dataset');
    assert.equal(failed.willRetry, false);
    assert.equal(r.backend.started.length, 1, 'the blocked stage never starts');
  });

  it('calls a clean exit without the declared outputs a failure (missing-outputs)', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 0, outputs: false }] }, { maxAttempts: 1 });
    const failed = r.events.find((e) => e.type === 'stage-failed');
    assert.ok(failed?.type === 'stage-failed');
    assert.equal(failed.cause, 'missing-outputs');
    assert.match(failed.evidence[0] ?? '', /missing: pairs\.jsonl/);
  });

  it('records a command stage\'s metrics.json in the finished event and the state', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 0, files: { 'metrics.json': '{"aime24": {"accuracy": 0.43, "n": 30}, "math500": {"accuracy": 0.8}}' } }] });
    const fin = r.events.find((e) => e.type === 'stage-finished' && e.key === 'r1/gen');
    assert.ok(fin?.type === 'stage-finished');
    assert.deepEqual(fin.metrics, { aime24: { accuracy: 0.43, n: 30 }, math500: { accuracy: 0.8 } });
    assert.deepEqual(r.state.stages['r1/gen']?.done?.metrics, { aime24: { accuracy: 0.43, n: 30 }, math500: { accuracy: 0.8 } });
    const other = r.events.find((e) => e.type === 'stage-finished' && e.key === 'r1/use');
    assert.ok(other?.type === 'stage-finished');
    assert.equal(other.metrics, undefined, 'a stage without metrics.json reports none');
  });

  it('fails a stage whose metrics.json has the wrong shape (bad-metrics), naming where', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 0, files: { 'metrics.json': '{"aime24": {"accuracy": "high"}}' } }] }, { maxAttempts: 1 });
    const failed = r.events.find((e) => e.type === 'stage-failed');
    assert.ok(failed?.type === 'stage-failed');
    assert.equal(failed.cause, 'bad-metrics');
    assert.match(failed.evidence[0] ?? '', /at aime24\.accuracy: expected a finite number, got the string "high"/);
    assert.equal(r.outcomes['r1/use'], 'blocked');
  });

  it('names the cause of a refused start as the backend mapped it', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'refuse', failure: { message: 'No such image: x:1', cause: 'image-missing' } }] });
    const failed = r.events.find((e) => e.type === 'stage-failed');
    assert.ok(failed?.type === 'stage-failed');
    assert.equal(failed.cause, 'image-missing');
    assert.equal(failed.exitCode, null);
    assert.equal(r.backend.started.length, 0);
  });

  it('treats a job the backend lost as an unknown failure, never as finished', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'lost' }] }, { maxAttempts: 1 });
    assert.equal(r.outcomes['r1/gen'], 'failed');
    const failed = r.events.find((e) => e.type === 'stage-failed');
    assert.ok(failed?.type === 'stage-failed');
    assert.equal(failed.cause, 'unknown');
  });

  it('reports progress from trainer_log.jsonl lines written while the job ran', async () => {
    const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 0, progress: [{ step: 1, total: 2, loss: 0.5 }, { step: 2, total: 2, loss: 0.25 }] }] });
    const prog = r.events.filter((e) => e.type === 'stage-progress');
    assert.deepEqual(prog.map((e) => e.type === 'stage-progress' && e.step), [1, 2]);
    const fin = r.events.find((e) => e.type === 'stage-finished');
    assert.ok(fin?.type === 'stage-finished');
    assert.equal(fin.finalLoss, 0.25);
    assert.equal(fin.steps, 2);
  });

  it('with --detach, a Ctrl-C leaves the job running and stops following it (exit 130)', async () => {
    const interrupt = new AbortController();
    setTimeout(() => interrupt.abort(), 50);
    const r = await run({ 'r1/gen': [{ kind: 'hang' }] }, { interrupt, detach: true });
    assert.equal(r.exitCode, 130);
    assert.equal(r.outcomes['r1/gen'], 'detached');
    assert.deepEqual(r.backend.stopped, [], 'nothing is stopped');
    assert.deepEqual(r.backend.released, [], 'the detached job is kept');
  });

  it('without --detach, a Ctrl-C stops the job and records an interruption (exit 130)', async () => {
    const interrupt = new AbortController();
    setTimeout(() => interrupt.abort(), 50);
    const r = await run({ 'r1/gen': [{ kind: 'hang' }] }, { interrupt });
    assert.equal(r.exitCode, 130);
    assert.equal(r.outcomes['r1/gen'], 'interrupted');
    assert.deepEqual(r.backend.stopped, ['c-r1/gen-1']);
    assert.equal(r.outcomes['r1/use'], undefined, 'nothing after it starts');
  });

  it('skips what is finished and unchanged, and feeds it to what runs', async () => {
    const first = await run({});
    const setupAgain = setup();
    // same pipeline, same run dir: point the second plan at the first run's dir
    const plan = { ...setupAgain.plan, runDir: first.backend.started[0]?.runDir ?? '', stages: setupAgain.plan.stages.map((s, i) => ({ ...s, outputDir: first.backend.started[i]?.stage.outputDir ?? s.outputDir })) };
    const again = await run({}, { state: first.state, plan: { p: setupAgain.p, plan } });
    assert.deepEqual(again.outcomes, { 'r1/gen': 'skipped', 'r1/use': 'skipped' });
    assert.equal(again.backend.started.length, 0);
  });

  it('never lets an unverified input feed a stage that the plan said would run', async () => {
    const { p, plan } = setup();
    // gen's outputs exist on disk, but it never finished: use must not run on them
    const gen = plan.stages[0];
    assert.ok(gen);
    mkdirSync(gen.outputDir, { recursive: true });
    writeFileSync(join(gen.outputDir, 'pairs.jsonl'), 'x\n');
    const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 3, outputs: false }] }, { plan: { p, plan }, maxAttempts: 1 });
    assert.equal(r.outcomes['r1/use'], 'blocked');
    assert.ok(!existsSync(join(plan.stages[1]?.outputDir ?? '', 'done.txt')));
  });

  describe('several stage instances at once', () => {
    /** two independent stages, each asking for 2 GPUs of a pool of 4 */
    const wide = () =>
      commandPlan(
        rig,
        COMMAND_PIPELINE.replace("    after: [gen]\n", '').replace('stages:\n', 'gpus: "0-3"\nstages:\n').replace(/kind: command\n/g, 'kind: command\n    gpus: 2\n'),
      );

    it('gives each running instance its own GPU ids from the pool, in the job it starts', async () => {
      const r = await run({ 'r1/gen': [{ kind: 'hang' }], 'r1/use': [{ kind: 'hang' }] }, { plan: wide(), maxParallel: 2, interrupt: abortSoon() });
      assert.deepEqual(r.backend.started.map((j) => [j.stage.key, j.gpus]), [
        ['r1/gen', '0,1'],
        ['r1/use', '2,3'],
      ]);
      // recorded before the job starts, so a re-attach after a crash holds the same ids
      assert.equal(r.state.stages['r1/use']?.attempts[0]?.gpus, '2,3');
    });

    it('Ctrl-C stops every running instance and records each interruption (exit 130)', async () => {
      const r = await run({ 'r1/gen': [{ kind: 'hang' }], 'r1/use': [{ kind: 'hang' }] }, { plan: wide(), maxParallel: 2, interrupt: abortSoon() });
      assert.equal(r.exitCode, 130);
      assert.deepEqual(r.backend.stopped.sort(), ['c-r1/gen-1', 'c-r1/use-1']);
      assert.deepEqual(r.outcomes, { 'r1/gen': 'interrupted', 'r1/use': 'interrupted' });
      assert.deepEqual(r.events.filter((e) => e.type === 'stage-interrupted').length, 2);
    });

    it('with --detach, Ctrl-C leaves every running instance running', async () => {
      const r = await run({ 'r1/gen': [{ kind: 'hang' }], 'r1/use': [{ kind: 'hang' }] }, { plan: wide(), maxParallel: 2, interrupt: abortSoon(), detach: true });
      assert.equal(r.exitCode, 130);
      assert.deepEqual(r.backend.stopped, []);
      assert.deepEqual(r.outcomes, { 'r1/gen': 'detached', 'r1/use': 'detached' });
    });

    it('a failed instance never stops its running sibling, which finishes; exit 1', async () => {
      const r = await run({ 'r1/gen': [{ kind: 'exit', exitCode: 3 }] }, { plan: wide(), maxParallel: 2, maxAttempts: 1 });
      assert.equal(r.exitCode, 1);
      assert.deepEqual(r.outcomes, { 'r1/gen': 'failed', 'r1/use': 'done' });
      assert.deepEqual(r.backend.stopped, []);
    });

    it('one slot: after a failure the independent instance is not started unless --keep-going', async () => {
      const failing = { 'r1/gen': [{ kind: 'exit' as const, exitCode: 3 }] };
      const stop = await run(failing, { plan: wide(), maxAttempts: 1 });
      assert.deepEqual(stop.outcomes, { 'r1/gen': 'failed', 'r1/use': 'blocked' });
      assert.match(JSON.stringify(stop.events.filter((e) => e.type === 'stage-blocked')), /pass --keep-going/);
      const go = await run(failing, { plan: wide(), maxAttempts: 1, keepGoing: true });
      assert.deepEqual(go.outcomes, { 'r1/gen': 'failed', 'r1/use': 'done' });
      assert.equal(go.exitCode, 1);
    });
  });
});

function abortSoon(ms = 80): AbortController {
  const c = new AbortController();
  setTimeout(() => c.abort(), ms);
  return c;
}
