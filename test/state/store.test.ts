import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readState, repairState, RunStore } from '../../src/state/store.js';
import { now } from '../../src/run/events.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('store');
after(() => rig.cleanup());

function finishedRun(dir: string): void {
  const store = new RunStore(dir, undefined);
  store.record({ type: 'run-started', ts: now(), runId: 'r', pipeline: 'p.yaml', pipelineName: 'p', rounds: 1, backend: 'docker', image: 'i:1', pid: 1, host: 'h', argv: [] });
  for (const key of ['r1/a', 'r1/b']) {
    store.record({ type: 'stage-starting', ts: now(), key, attempt: 1, fingerprint: 'f', fields: {} });
    store.record({ type: 'stage-started', ts: now(), key, attempt: 1, handle: { backend: 'docker', id: 'c' } });
    rig.write(`${dir.split('/').pop()}/outputs/${key}/model.safetensors`, 'weights');
    store.record({ type: 'stage-finished', ts: now(), key, attempt: 1, durationMs: 5, fingerprint: 'f', fields: {}, manifest: [{ name: 'model.safetensors', size: 7 }] });
  }
  store.close();
}

describe('state store', () => {
  it('keeps state.json in step with the event log', () => {
    const dir = rig.path('ok');
    finishedRun(dir);
    const s = readState(dir);
    assert.ok(s.ok && s.value);
    assert.equal(s.value.stages['r1/a']?.status, 'done');
    assert.equal(s.value.stages['r1/a']?.done?.fingerprint, 'f');
  });

  it('removes the done marker when a stage starts again', () => {
    const dir = rig.path('again');
    finishedRun(dir);
    const s = readState(dir);
    assert.ok(s.ok && s.value);
    const store = new RunStore(dir, s.value);
    store.record({ type: 'stage-starting', ts: now(), key: 'r1/a', attempt: 2, fingerprint: 'g', fields: {} });
    store.close();
    const t = readState(dir);
    assert.ok(t.ok && t.value);
    assert.equal(t.value.stages['r1/a']?.done, undefined);
    assert.equal(t.value.stages['r1/a']?.status, 'running');
  });

  it('turns a truncated state file into a clear error, and repair rebuilds it from events and outputs', () => {
    const dir = rig.path('torn');
    finishedRun(dir);
    writeFileSync(join(dir, 'state.json'), '{"schema": 1, "stages": {"r1/a": {"st');
    const r = readState(dir);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.reason, 'state-corrupt');
      assert.match(r.error.message, /flux-train repair --run-dir/);
      assert.match(r.error.message, /events in events\.jsonl/);
    }
    // one finished stage lost its outputs meanwhile: it must not stay "done"
    writeFileSync(join(dir, 'outputs/r1/b/model.safetensors'), 'x');
    const rep = repairState(dir, (k) => join(dir, 'outputs', k));
    assert.deepEqual(rep.keptDone, ['r1/a']);
    assert.equal(rep.droppedDone[0]?.key, 'r1/b');
    assert.ok(rep.movedCorrupt && existsSync(rep.movedCorrupt));
    const s = readState(dir);
    assert.ok(s.ok && s.value);
    assert.equal(s.value.stages['r1/a']?.status, 'done');
    assert.equal(s.value.stages['r1/b']?.done, undefined);
  });

  it('tolerates a torn last line in the event log', () => {
    const dir = rig.path('torn-events');
    finishedRun(dir);
    writeFileSync(join(dir, 'events.jsonl'), `${readdirSync(dir).includes('events.jsonl') ? readFileSync_(join(dir, "events.jsonl"), "utf8") : ''}{"type": "stage-sta`);
    const rep = repairState(dir, (k) => join(dir, 'outputs', k));
    assert.equal(rep.badLines.length, 1);
    assert.deepEqual(rep.keptDone.sort(), ['r1/a', 'r1/b']);
  });
});

import { readFileSync as readFileSync_ } from 'node:fs';
