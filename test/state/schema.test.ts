import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { jobHandleSchema, runEventSchema } from '../../src/state/schema.js';
import { readEvents, readState } from '../../src/state/store.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('schema');
after(() => rig.cleanup());

describe('schema: run dirs written by older versions', () => {
  it('reads a flat local handle (pid and startTime beside the id) as today\'s tagged handle', () => {
    assert.deepEqual(jobHandleSchema.parse({ backend: 'local', id: '123', name: 'pid 123', pid: 123, startTime: 4567 }), {
      backend: 'local',
      id: '123',
      name: 'pid 123',
      process: { pid: 123, startTime: 4567 },
    });
    assert.deepEqual(jobHandleSchema.parse({ backend: 'docker', id: 'abc', name: 'flux-x' }), { backend: 'docker', id: 'abc', name: 'flux-x' });
    const today = { backend: 'local', id: '9', process: { pid: 9 } };
    assert.deepEqual(jobHandleSchema.parse(today), today);
  });

  it('resumes from an old events.jsonl and state.json: the local handle reads into process', () => {
    const dir = rig.path('old-run');
    rig.write('old-run/.keep', '');
    const oldHandle = { backend: 'local', id: '321', pid: 321, startTime: 99, name: 'pid 321' };
    const ts = '2026-01-01T00:00:00.000Z';
    const events = [
      { type: 'run-started', ts, runId: 'r', pipeline: 'p.yaml', pipelineName: 'p', rounds: 1, backend: 'local', image: 'i', pid: 1, host: 'h', argv: [] },
      { type: 'stage-starting', ts, key: 'r1/a', attempt: 1, fingerprint: 'f', fields: {} },
      { type: 'stage-started', ts, key: 'r1/a', attempt: 1, handle: oldHandle },
    ];
    writeFileSync(join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const read = readEvents(dir);
    assert.deepEqual(read.bad, []);
    const started = read.events[2];
    assert.ok(started?.type === 'stage-started');
    assert.deepEqual(started.handle, { backend: 'local', id: '321', name: 'pid 321', process: { pid: 321, startTime: 99 } });
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({ schema: 1, sessions: [], stages: { 'r1/a': { key: 'r1/a', status: 'running', attempts: [{ n: 1, startedAt: ts, handle: oldHandle }] } } }),
    );
    const st = readState(dir);
    assert.ok(st.ok && st.value);
    assert.deepEqual(st.value.stages['r1/a']?.attempts[0]?.handle, { backend: 'local', id: '321', name: 'pid 321', process: { pid: 321, startTime: 99 } });
  });

  it('still refuses a handle without an id', () => {
    assert.equal(runEventSchema.safeParse({ type: 'stage-started', ts: 't', key: 'r1/a', attempt: 1, handle: { backend: 'local', pid: 3 } }).success, false);
  });
});
