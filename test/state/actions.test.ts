import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { LiveJob } from '../../src/backends/backend.js';
import type { Plan, TrainInstance } from '../../src/pipeline/plan-types.js';
import { decideActions, describeAction, predictBlocked, stagesToRun } from '../../src/state/actions.js';
import { fingerprintPlan, hashFields } from '../../src/state/fingerprint.js';
import { emptyState, reduce, type RunState } from '../../src/state/state.js';
import { now } from '../../src/run/events.js';
import { commandPlan } from '../helpers/command-plan.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('actions');
after(() => rig.cleanup());

/** The state after both stages finished with today's fingerprints. */
function finished(plan: Plan): RunState {
  const fps = fingerprintPlan(plan);
  let s = emptyState();
  for (const st of plan.stages) {
    const fp = fps.get(st.key);
    assert.ok(fp);
    s = reduce(s, { type: 'stage-starting', ts: now(), key: st.key, attempt: 1, fingerprint: fp.hash, fields: fp.fields });
    s = reduce(s, { type: 'stage-finished', ts: now(), key: st.key, attempt: 1, durationMs: 1, fingerprint: fp.hash, fields: fp.fields, manifest: [] });
  }
  return s;
}

const liveJob = (attempt: number, fingerprint: string, running = true): LiveJob => ({
  handle: { backend: 'slurm', id: '4242', name: 'job 4242' },
  stopCommand: 'scancel 4242',
  running,
  attempt,
  fingerprint,
});

describe('decideActions', () => {
  it('runs what never ran, and skips what finished unchanged', () => {
    const { plan } = commandPlan(rig);
    const fps = fingerprintPlan(plan);
    assert.deepEqual(decideActions(plan, fps, undefined, new Map()).map((a) => [a.key, a.action, a.reason]), [
      ['r1/gen', 'run', 'never ran'],
      ['r1/use', 'run', 'never ran'],
    ]);
    const again = decideActions(plan, fps, finished(plan), new Map());
    assert.deepEqual(again.map((a) => a.action), ['skip', 'skip']);
  });

  it('reruns a changed stage with the changed fields, and what depends on it because its input runs again', () => {
    const { plan } = commandPlan(rig);
    const state = finished(plan);
    const edited = commandPlan(rig, undefined).plan;
    const gen = edited.stages[0];
    assert.ok(gen?.kind === 'command');
    const plan2: Plan = { ...edited, stages: [{ ...gen, command: ['sh', '-c', 'echo changed'] }, ...edited.stages.slice(1)] };
    const [a, b] = decideActions(plan2, fingerprintPlan(plan2), state, new Map());
    assert.ok(a?.action === 'rerun');
    assert.deepEqual(a.changed, ['command']);
    assert.equal(b?.action, 'rerun');
    assert.match(b.reason, /input r1\/gen runs again/);
  });

  it('follows a job still running with the same configuration instead of starting another', () => {
    const { plan } = commandPlan(rig);
    const fps = fingerprintPlan(plan);
    const job = liveJob(2, fps.get('r1/gen')?.hash ?? '');
    const [a] = decideActions(plan, fps, undefined, new Map([['r1/gen', job]]));
    assert.ok(a?.action === 'reattach');
    assert.equal(a.live, job);
    assert.match(a.reason, /attempt 2 is still running \(job 4242\)/);
  });

  it('blocks on a running job of an older configuration and names the backend\'s own way to stop it', () => {
    const { plan } = commandPlan(rig);
    const [a] = decideActions(plan, fingerprintPlan(plan), undefined, new Map([['r1/gen', liveJob(1, 'old-fingerprint')]]));
    assert.equal(a?.action, 'blocked');
    assert.match(a.reason, /stop it \(scancel 4242\)/);
    assert.doesNotMatch(a.reason, /docker stop/);
  });

  it('forces a rerun with --restart-stage and --from (downstream included), and skips what --only leaves out', () => {
    const { plan } = commandPlan(rig);
    const fps = fingerprintPlan(plan);
    const state = finished(plan);
    assert.deepEqual(decideActions(plan, fps, state, new Map(), { restart: ['use'], only: [] }).map((a) => a.action), ['skip', 'rerun']);
    assert.deepEqual(decideActions(plan, fps, state, new Map(), { restart: [], from: 'gen', only: [] }).map((a) => a.action), ['rerun', 'rerun']);
    const only = decideActions(plan, fps, undefined, new Map(), { restart: [], only: ['use'] });
    assert.equal(only[0]?.action, 'skip');
    assert.match(only[0]?.reason ?? '', /not selected by --only use \(not finished\)/);
  });

  it('predicts a stage blocked when its input is left out by --only and never finished, and says how to include it', () => {
    const { plan } = commandPlan(rig);
    const fps = fingerprintPlan(plan);
    const actions = predictBlocked(plan, decideActions(plan, fps, undefined, new Map(), { restart: [], only: ['use'] }), undefined);
    assert.equal(actions[1]?.action, 'blocked');
    assert.match(actions[1]?.reason ?? '', /add --only gen/);
    assert.deepEqual(stagesToRun(plan, actions), []);
  });

  it('resumes a train stage from its newest valid checkpoint, and refuses when a resume-critical field changed', () => {
    const dir = rig.path('train-out');
    const ck = join(dir, 'checkpoint-5');
    mkdirSync(ck, { recursive: true });
    writeFileSync(join(ck, 'trainer_state.json'), JSON.stringify({ global_step: 5 }));
    writeFileSync(join(ck, 'model.safetensors'), 'w');
    writeFileSync(join(ck, 'optimizer.pt'), 'o');
    const stage = { key: 'r1/t', id: 't', kind: 'train', dependsOn: [], outputDir: dir } as unknown as TrainInstance;
    const plan = { stages: [stage] } as unknown as Plan;
    const fields = { kind: 'train', 'args.learning_rate': '1e-5' };
    const fps = new Map([['r1/t', { hash: hashFields(fields), fields }]]);
    const [a] = decideActions(plan, fps, undefined, new Map());
    assert.ok(a?.action === 'resume');
    assert.equal(a.checkpoint, 5);
    assert.equal(describeAction(a), 'resume@checkpoint-5');
    const state = reduce(emptyState(), { type: 'stage-starting', ts: now(), key: 'r1/t', attempt: 1, fingerprint: 'x', fields: { ...fields, 'args.learning_rate': '2e-5' } });
    const [b] = decideActions(plan, fps, state, new Map());
    assert.ok(b?.action === 'blocked');
    assert.deepEqual(b.changed, ['args.learning_rate']);
  });
});
