import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { JobHandleRecord, RunEvent } from '../../src/run/events.js';
import { emptyState, reduce, type RunState } from '../../src/state/state.js';
import { readEvents, readState, rebuildState, outputDirOfKey } from '../../src/state/store.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('serve-state');
after(() => rig.cleanup());

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const KEY = 'r1/proposer_server';
const handle = (pid: number): JobHandleRecord => ({ backend: 'local', id: String(pid), name: `pid ${pid}`, process: { pid, startTime: 1000 + pid } });

/** The events of one server attempt, from start to an end the caller picks. */
function attemptEvents(attempt: number, at: number, port: number): RunEvent[] {
  const url = `http://127.0.0.1:${port}/v1`;
  return [
    { type: 'serve-starting', ts: t(at), key: KEY, attempt, port, url, servedName: 'proposer', fingerprint: `fp${attempt}`, gpus: '0,1' },
    { type: 'serve-started', ts: t(at + 1), key: KEY, attempt, handle: handle(100 + attempt) },
    { type: 'serve-ready', ts: t(at + 12), key: KEY, attempt, url, afterMs: 11_000 },
  ];
}

const fold = (events: RunEvent[], s: RunState = emptyState()): RunState => events.reduce((st, e) => reduce(st, e), s);

describe('reduce: serve events into state.serves', () => {
  it('starting, then ready, then stopped, keeping the URL, the handle, the ready time and the reason', () => {
    const starting = fold(attemptEvents(1, 0, 40001).slice(0, 1));
    assert.equal(starting.serves?.[KEY]?.status, 'starting');
    assert.equal(starting.serves?.[KEY]?.starts, 1);
    const ready = fold(attemptEvents(1, 0, 40001));
    const sv = ready.serves?.[KEY];
    assert.deepEqual(sv, {
      key: KEY,
      status: 'ready',
      attempt: 1,
      servedName: 'proposer',
      fingerprint: 'fp1',
      port: 40001,
      url: 'http://127.0.0.1:40001/v1',
      startedAt: t(0),
      starts: 1,
      gpus: '0,1',
      handle: handle(101),
      readyAt: t(12),
      readyAfterMs: 11_000,
    });
    const stopped = fold([{ type: 'serve-stopped', ts: t(50), key: KEY, attempt: 1, reason: 'its consumers are done' }], ready);
    assert.equal(stopped.serves?.[KEY]?.status, 'stopped');
    assert.equal(stopped.serves?.[KEY]?.stoppedAt, t(50));
    assert.equal(stopped.serves?.[KEY]?.stopReason, 'its consumers are done');
  });

  it('a failed server stays failed when the same attempt is stopped afterwards', () => {
    const s = fold([
      ...attemptEvents(1, 0, 40001),
      { type: 'serve-failed', ts: t(30), key: KEY, attempt: 1, reason: 'died', message: 'r1/proposer_server ended (exit 137) while r1/mine used it', evidence: ['Killed'] },
      { type: 'serve-stopped', ts: t(31), key: KEY, attempt: 1, reason: 'its consumers are done' },
    ]);
    const sv = s.serves?.[KEY];
    assert.equal(sv?.status, 'failed');
    assert.equal(sv?.failure, 'r1/proposer_server ended (exit 137) while r1/mine used it');
    assert.equal(sv?.stopReason, 'its consumers are done');
    assert.equal(sv?.stoppedAt, t(31));
  });

  it('an event of another attempt changes nothing', () => {
    const before = fold(attemptEvents(2, 100, 40002), fold(attemptEvents(1, 0, 40001)));
    const snapshot = structuredClone(before.serves);
    const after = fold(
      [
        { type: 'serve-failed', ts: t(200), key: KEY, attempt: 1, reason: 'timeout', message: 'late', evidence: [] },
        { type: 'serve-stopped', ts: t(201), key: KEY, attempt: 3, reason: 'x' },
        { type: 'serve-ready', ts: t(202), key: KEY, attempt: 1, url: 'http://127.0.0.1:1/v1', afterMs: 1 },
        { type: 'serve-reused', ts: t(203), key: KEY, attempt: 7, url: 'http://127.0.0.1:2/v1', handle: handle(7) },
        // and one for a server the state never saw start
        { type: 'serve-stopped', ts: t(204), key: 'r2/other', attempt: 1, reason: 'x' },
      ],
      before,
    );
    assert.deepEqual(after.serves, snapshot);
    assert.equal(after.serves?.['r2/other'], undefined);
  });

  it('counts every start over the run’s life; a new attempt starts clean', () => {
    const s = fold([
      ...attemptEvents(1, 0, 40001),
      { type: 'serve-failed', ts: t(30), key: KEY, attempt: 1, reason: 'died', message: 'died', evidence: [] },
      ...attemptEvents(2, 40, 40002).slice(0, 2),
    ]);
    const sv = s.serves?.[KEY];
    assert.equal(sv?.starts, 2);
    assert.equal(sv?.attempt, 2);
    assert.equal(sv?.status, 'starting');
    assert.equal(sv?.url, 'http://127.0.0.1:40002/v1');
    assert.equal(sv?.failure, undefined);
    assert.equal(sv?.readyAfterMs, undefined);
    assert.deepEqual(sv?.handle, handle(102));
  });

  it('a server a killed CLI left running and the next one re-used is ready at the URL of the re-use', () => {
    const s = fold([...attemptEvents(1, 0, 40001).slice(0, 2), { type: 'serve-reused', ts: t(60), key: KEY, attempt: 1, url: 'http://127.0.0.1:40001/v1', handle: handle(101) }]);
    assert.equal(s.serves?.[KEY]?.status, 'ready');
    assert.equal(s.serves?.[KEY]?.starts, 1);
  });

  it('a state from before serve stages has no serves until a serve event comes', () => {
    const old: RunState = { schema: 1, sessions: [], stages: {} };
    fold([{ type: 'stage-skipped', ts: t(0), key: 'r1/a', reason: 'done' }], old);
    assert.equal(old.serves, undefined);
    const later = fold(attemptEvents(1, 0, 40001).slice(0, 1), old);
    assert.equal(later.serves?.[KEY]?.status, 'starting');
  });
});

describe('serve entries on disk, through src/state/schema.ts', () => {
  const goodState = (): RunState => fold([...attemptEvents(1, 0, 40001), { type: 'serve-stopped', ts: t(50), key: KEY, attempt: 1, reason: 'its consumers are done' }], { schema: 1, sessions: [], stages: {} });

  it('state.json with serves reads back as written', () => {
    const dir = rig.path('good');
    rig.write('good/state.json', JSON.stringify(goodState()));
    const r = readState(dir);
    assert.ok(r.ok);
    assert.deepEqual(r.value, goodState());
  });

  it('state.json without serves (an old run dir) reads back without them', () => {
    const dir = rig.path('old');
    rig.write('old/state.json', JSON.stringify({ schema: 1, sessions: [], stages: {} }));
    const r = readState(dir);
    assert.ok(r.ok);
    assert.equal(r.value?.serves, undefined);
  });

  for (const [what, edit, where] of [
    ['an unknown status', (sv: Record<string, unknown>) => (sv['status'] = 'listening'), /serves/],
    ['a port out of range', (sv: Record<string, unknown>) => (sv['port'] = 70_000), /port/],
    ['a negative start count', (sv: Record<string, unknown>) => (sv['starts'] = -1), /starts/],
    ['no served name', (sv: Record<string, unknown>) => delete sv['servedName'], /servedName/],
    ['a handle of the wrong shape', (sv: Record<string, unknown>) => (sv['handle'] = { backend: 'tape', id: 1 }), /handle/],
  ] as const) {
    it(`a serve entry with ${what} is refused with a readable message naming where`, () => {
      const s = goodState() as unknown as { serves: Record<string, Record<string, unknown>> };
      edit(s.serves[KEY] as Record<string, unknown>);
      const tag = what.replace(/\W+/g, '-');
      rig.write(`bad-${tag}/state.json`, JSON.stringify(s));
      const r = readState(rig.path(`bad-${tag}`));
      assert.ok(!r.ok, what);
      assert.match(r.error.shortMessage, /corrupt or truncated, or has the wrong shape \(not a flux-train state: at serves/);
      assert.match(r.error.shortMessage, where);
      assert.match(r.error.fix, /repair/);
      assert.doesNotMatch(r.error.shortMessage, /\n\s+at /);
    });
  }

  it('serves that is not an object is refused the same way', () => {
    const s = { ...goodState(), serves: [1, 2] };
    rig.write('bad-array/state.json', JSON.stringify(s));
    const r = readState(rig.path('bad-array'));
    assert.ok(!r.ok);
    assert.match(r.error.shortMessage, /at serves/);
  });

  it('events.jsonl with serve events reads back, skips a wrong one with its line and reason, and rebuilds the same serves', () => {
    const dir = rig.path('events');
    const events: unknown[] = [
      { type: 'run-started', ts: t(0), runId: 'r', pipeline: 'p.yaml', pipelineName: 'p', rounds: 1, backend: 'local', image: 'i', pid: 1, host: 'h', argv: [] },
      ...attemptEvents(1, 0, 40001),
      { type: 'serve-failed', ts: t(20), key: KEY, attempt: 1, reason: 'exploded', message: 'm', evidence: [] },
      { type: 'serve-ready', ts: t(21), key: KEY, attempt: 1, url: 'u' },
      { type: 'serve-stopped', ts: t(50), key: KEY, attempt: 1, reason: 'its consumers are done' },
    ];
    rig.write('events/.keep', '');
    writeFileSync(join(dir, 'events.jsonl'), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const read = readEvents(dir);
    assert.deepEqual(
      read.bad.map((b) => b.line),
      [5, 6],
    );
    assert.match(read.bad[0]?.why ?? '', /reason/);
    assert.match(read.bad[1]?.why ?? '', /afterMs/);
    assert.deepEqual(
      read.events.map((e) => e.type),
      ['run-started', 'serve-starting', 'serve-started', 'serve-ready', 'serve-stopped'],
    );
    const { state, report } = rebuildState(dir, outputDirOfKey(dir));
    assert.equal(report.events, 5);
    assert.deepEqual(state.serves, goodState().serves);
  });
});
