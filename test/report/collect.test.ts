import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { collectReport } from '../../src/report/collect.js';
import { procStartTime } from '../../src/util/proc.js';
import { syntheticRun } from '../helpers/synthetic-run.js';

describe('report collect: a run dir into the report data', () => {
  const dir = syntheticRun({
    rounds: 3,
    steps: 300,
    faults: [{ key: 'r2/proposer_dpo', at: 150, checkpoint: 140, cause: 'nccl' }],
    fields: (_k, round, id): Record<string, string> => (id === 'proposer_dpo' && round === 3 ? { 'args.learning_rate': '0.000005' } : {}),
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gathers every round of a stage id on one chart, the resumed attempt continuing its curve', () => {
    const r = collectReport(dir);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const d = r.value;
    assert.deepEqual(d.curves.map((c) => [c.id, c.rounds.map((x) => x.round)]), [['proposer_sft', [1, 2, 3]], ['proposer_dpo', [1, 2, 3]], ['reasoner_dpo', [1, 2, 3]]]);
    const r2 = d.curves[1]?.rounds[1];
    assert.equal(r2?.key, 'r2/proposer_dpo');
    assert.equal(r2?.totalSteps, 300);
    assert.deepEqual(r2?.segments.map((s) => [s.attempt, s.firstStep, s.lastStep]), [[1, 1, 150], [2, 141, 300]]);
    assert.deepEqual(r2?.segments[1]?.redone, { from: 140, to: 150, cause: 'nccl' });
    assert.equal(d.pipelineName, 'synthetic');
    assert.equal(d.inProgress, undefined);
    assert.deepEqual(d.evals, [], 'no evaluation stage: no metrics');
    assert.equal(d.timeline.bars.length, 10);
  });

  it('details every instance, with the arguments changed from the previous round', () => {
    const d = collectReport(dir);
    assert.ok(d.ok);
    const i = (k: string) => d.value.instances.find((x) => x.key === k);
    assert.equal(i('r1/proposer_dpo')?.changed, undefined);
    assert.deepEqual(i('r2/proposer_dpo')?.changed, []);
    assert.deepEqual(i('r3/proposer_dpo')?.changed, [{ name: 'learning_rate', before: '0.00001', after: '0.000005' }]);
    assert.equal(i('r2/proposer_dpo')?.logPaths.length, 2);
    assert.equal(i('r2/proposer_dpo')?.model, 'output of r1/proposer_dpo');
  });

  it('shows evaluation results once a stage writes them', () => {
    writeFileSync(join(dir, 'outputs', 'r2', 'reasoner_dpo', 'eval_results.json'), JSON.stringify({ eval_loss: 0.42 }));
    const d = collectReport(dir);
    assert.ok(d.ok);
    assert.deepEqual(d.value.evals.map((e) => [e.key, e.metrics]), [['r2/reasoner_dpo', { eval_loss: 0.42 }]]);
    rmSync(join(dir, 'outputs', 'r2', 'reasoner_dpo', 'eval_results.json'));
  });

  it('is in progress only while the lock owner lives; garbage in the event log is a note, not a failure', () => {
    // a live owner is one whose pid and start time both match (README "The lock rule")
    writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: process.pid, host: hostname(), startTime: procStartTime(process.pid), startedAt: '', heartbeat: new Date().toISOString(), command: 'round', current: 'r3/reasoner_dpo' }));
    const live = collectReport(dir);
    assert.ok(live.ok);
    assert.deepEqual(live.value.inProgress, { pid: process.pid, host: hostname(), current: 'r3/reasoner_dpo' });
    writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: 2 ** 22 + 17, host: hostname(), startedAt: '', heartbeat: '', command: 'round' }));
    appendFileSync(join(dir, 'events.jsonl'), '{"torn');
    const d = collectReport(dir);
    assert.ok(d.ok);
    assert.equal(d.value.inProgress, undefined, 'a lock left by a dead process');
    assert.deepEqual(d.value.notes, ['1 unreadable line(s) in events.jsonl were skipped']);
  });

  it('names the way out for a dir that is no run, and for a corrupt state', () => {
    const empty = mkdtempSync(join(tmpdir(), 'flux-norun-'));
    try {
      const r = collectReport(empty);
      assert.ok(!r.ok);
      assert.equal(r.error.reason, 'no-run');
      assert.match(r.error.message, /--run-dir/);
      writeFileSync(join(empty, 'state.json'), JSON.stringify({ schema: 1, stages: { 'r1/a': { key: 'r1/a', status: 'pending' } } }));
      const bare = collectReport(empty);
      assert.ok(bare.ok, 'a state with a stage and no attempts list');
      assert.deepEqual(bare.value.timeline.bars, []);
      writeFileSync(join(empty, 'state.json'), '{"schema": 1, "stag');
      const c = collectReport(empty);
      assert.ok(!c.ok);
      assert.equal(c.error.reason, 'state-corrupt');
      assert.match(c.error.message, /flux-train repair/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
