import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { highestAttemptOnDisk, readState, rebuildState, repairState, RunStore } from '../../src/state/store.js';
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
    writeFileSync(join(dir, 'events.jsonl'), `${readdirSync(dir).includes('events.jsonl') ? readFileSync(join(dir, "events.jsonl"), "utf8") : ''}{"type": "stage-sta`);
    const rep = repairState(dir, (k) => join(dir, 'outputs', k));
    assert.equal(rep.badLines.length, 1);
    assert.deepEqual(rep.keptDone.sort(), ['r1/a', 'r1/b']);
  });

  // issue 10: a state.json that parses but has the wrong shape crashed status and round
  const good = (): Record<string, unknown> => ({
    schema: 1,
    sessions: [],
    stages: { 'r1/a': { key: 'r1/a', status: 'done', attempts: [{ n: 1, startedAt: 't' }], done: { fingerprint: 'f', fields: {}, manifest: [], finishedAt: 't', durationMs: 1 } } },
  });
  const shapes: [string, (s: Record<string, unknown>) => void][] = [
    ['"stages": null', (s) => (s['stages'] = null)],
    ['a stage that is {}', (s) => (s['stages'] = { 'r1/a': {} })],
    ['a stage that is 5', (s) => (s['stages'] = { 'r1/a': 5 })],
    ['attempts: null', (s) => ((s['stages'] as Record<string, Record<string, unknown>>)['r1/a']!['attempts'] = null)],
    ['sessions: 5', (s) => (s['sessions'] = 5)],
    ['done.manifest: null', (s) => ((s['stages'] as Record<string, Record<string, Record<string, unknown>>>)['r1/a']!['done']!['manifest'] = null)],
    ['a stage key __proto__', (s) => (s['stages'] = JSON.parse('{"__proto__": {"key": "r1/a", "status": "done", "attempts": []}}'))],
    ['the top level null', (s) => Object.keys(s).forEach((k) => delete s[k])],
  ];
  for (const [name, mutate] of shapes) {
    it(`refuses a state.json with ${name}, naming flux-train repair`, () => {
      const dir = rig.path(`shape-${name.replace(/\W/g, '')}`);
      mkdirSync(dir, { recursive: true });
      const st = good();
      mutate(st);
      writeFileSync(join(dir, 'state.json'), name === 'the top level null' ? 'null' : JSON.stringify(st));
      const r = readState(dir);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.reason, 'state-corrupt');
        assert.equal(r.error.exitCode, 2);
        assert.match(r.error.message, /run `flux-train repair --run-dir/);
      }
    });
  }

  it('repair skips corrupt event lines and lists them', () => {
    const dir = rig.path('bad-lines');
    finishedRun(dir);
    appendFileSync(
      join(dir, 'events.jsonl'),
      [
        '{"type":"stage-finished","key":"r2/reasoner_dpo"}',
        '{"type":"bogus"}',
        `{"type":"stage-starting","ts":"t","key":"__proto__","attempt":1,"fingerprint":"f","fields":{}}`,
        '{"type":"stage-failed","ts":"t","key":"r1/a","attempt":null}',
      ].join('\n') + '\n',
    );
    const rep = repairState(dir, (k) => join(dir, 'outputs', k));
    assert.deepEqual(
      rep.badLines.map((b) => b.line),
      [8, 9, 10, 11],
    );
    assert.match(rep.badLines[0]?.why ?? '', /manifest|fingerprint|ts/);
    assert.deepEqual(rep.keptDone.sort(), ['r1/a', 'r1/b']);
    const s = readState(dir);
    assert.ok(s.ok && s.value);
    assert.deepEqual(Object.keys(s.value.stages).sort(), ['r1/a', 'r1/b']);
  });

  it('repair keeps what a good state.json and the outputs prove when the event log is corrupt', () => {
    const dir = rig.path('good-state-bad-events');
    finishedRun(dir);
    writeFileSync(join(dir, 'events.jsonl'), 'garbage\n{"type":"bogus"}\n');
    const rep = repairState(dir, (k) => join(dir, 'outputs', k));
    assert.deepEqual(rep.keptFromState.sort(), ['r1/a', 'r1/b']);
    const s = readState(dir);
    assert.ok(s.ok && s.value);
    assert.equal(s.value.stages['r1/a']?.status, 'done');
    assert.equal(s.value.stages['r1/b']?.done?.fingerprint, 'f');
  });

  it('rebuilds a lost state.json from the events, keeping finished stages whose outputs match', () => {
    const dir = rig.path('lost-state');
    finishedRun(dir);
    rmSync(join(dir, 'state.json'));
    assert.equal(readState(dir).ok && readState(dir).ok, true);
    const { state, report } = rebuildState(dir, (k) => join(dir, 'outputs', k));
    assert.deepEqual(report.keptDone.sort(), ['r1/a', 'r1/b']);
    assert.equal(state.stages['r1/a']?.status, 'done');
    assert.equal(state.runId, 'r');
  });

  it('finds the highest attempt number left in logs/', () => {
    const dir = rig.path('attempts');
    mkdirSync(join(dir, 'logs'), { recursive: true });
    assert.equal(highestAttemptOnDisk(dir, 'r1/a'), 0);
    for (const f of ['r1-a.attempt1.log', 'r1-a.attempt3.exit', 'r1-a.attempt2.pid.json', 'r1-ab.attempt9.log', 'r2-a.attempt7.log']) writeFileSync(join(dir, 'logs', f), '');
    assert.equal(highestAttemptOnDisk(dir, 'r1/a'), 3);
  });
});
