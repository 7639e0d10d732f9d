import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { collectReport } from '../../src/report/collect.js';
import { accountTime, BETWEEN, buildTimeline } from '../../src/report/timeline.js';
import { readEvents, readState } from '../../src/state/store.js';
import type { RunState } from '../../src/state/state.js';
import { syntheticRun } from '../helpers/synthetic-run.js';

const faults = [
  { key: 'r2/proposer_dpo', at: 120, checkpoint: 100, cause: 'nccl' as const },
  { key: 'r1/reasoner_dpo', at: 30, cause: 'killed' as const },
];

describe('report timeline and time account', () => {
  const dir = syntheticRun({ rounds: 2, steps: 200, faults });
  const live = syntheticRun({ rounds: 1, steps: 200, unfinished: true });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(live, { recursive: true, force: true });
  });
  const load = (d: string) => ({ s: (readState(d) as { value: RunState }).value, events: readEvents(d).events });

  it('draws one bar per attempt, in run order, colored by outcome, with the failure line', () => {
    const { s, events } = load(dir);
    const t = buildTimeline(s, events, Date.now(), false);
    assert.deepEqual(t.rows, ['r1/proposer_sft', 'r1/proposer_dpo', 'r1/reasoner_dpo', 'r2/proposer_sft', 'r2/proposer_dpo', 'r2/reasoner_dpo']);
    assert.equal(t.bars.length, Object.values(s.stages).reduce((n, st) => n + st.attempts.length, 0));
    assert.equal(t.bars.length, 8);
    const nccl = t.bars.find((b) => b.key === 'r2/proposer_dpo' && b.attempt === 1);
    assert.equal(nccl?.kind, 'failed-transient');
    assert.equal(nccl?.message, 'r2/proposer_dpo attempt 1: nccl at step 120');
    const resumed = t.bars.find((b) => b.key === 'r2/proposer_dpo' && b.attempt === 2);
    assert.equal(resumed?.kind, 'finished');
    assert.equal(resumed?.resumeFrom, 100);
    assert.equal(resumed?.launchEnd !== undefined && resumed.launchEnd - resumed.start, 2000, 'the start-up part is stage-starting to stage-started');
    assert.ok(t.bars.every((b) => b.end >= b.start && b.start >= 0));
    assert.equal(t.sessions.length, 1);
  });

  it('an attempt with no end is running while a round holds the run dir, and was cut off when none does', () => {
    const { s, events } = load(live);
    const now = Date.parse(s.updatedAt as string) + 60_000;
    const running = buildTimeline(s, events, now, true);
    const last = running.bars.at(-1);
    assert.equal(last?.kind, 'running');
    assert.equal(last?.end, now - running.startMs);
    const stopped = buildTimeline(s, events, now, false).bars.at(-1);
    assert.equal(stopped?.kind, 'interrupted');
    assert.equal(stopped?.end, Date.parse(s.updatedAt as string) - running.startMs);
  });

  it('splits wall time into useful training, time lost to each cause and time between attempts, adding up', () => {
    const { s, events } = load(dir);
    const t = buildTimeline(s, events, Date.now(), false);
    const r = collectReport(dir);
    assert.ok(r.ok);
    const segs = new Map(r.value.curves.flatMap((c) => c.rounds.map((x) => [x.key, x.segments] as const)));
    const a = accountTime(s, t, segs);
    const lost = (prefix: string) => a.lost.find((l) => l.why.startsWith(prefix))?.ms ?? 0;
    const bar = (key: string, n: number) => t.bars.find((b) => b.key === key && b.attempt === n) as { start: number; end: number };
    // killed at step 30 with no checkpoint: the whole attempt is lost
    const killed = bar('r1/reasoner_dpo', 1);
    assert.equal(lost('killed'), killed.end - killed.start);
    // nccl at 120, resumed from 100: 20 of its 120 steps were trained again
    const nccl = bar('r2/proposer_dpo', 1);
    assert.ok(Math.abs(lost('nccl') - ((nccl.end - nccl.start) * 20) / 120) < 1);
    assert.ok(lost(BETWEEN) > 0, 'retry back-off and hand-offs');
    const sum = a.usefulTrainingMs + a.commandMs + a.lost.reduce((n, l) => n + l.ms, 0);
    assert.ok(Math.abs(sum - a.wallMs) < 1, `${sum} vs ${a.wallMs}`);
    assert.ok(a.effectiveRatio !== undefined && a.effectiveRatio > 0.8 && a.effectiveRatio < 1);
    assert.equal(a.lost[0]?.ms, Math.max(...a.lost.map((l) => l.ms)), 'largest loss first');
  });

  it('a server gets a row: loading until ready, then up until it stopped or failed; its time is counted apart, never as training or loss', () => {
    const { s, events } = load(dir);
    const base = accountTime(s, buildTimeline(s, events, Date.now(), false), new Map());
    const t0 = Date.parse(s.sessions[0]?.startedAt ?? '');
    const at = (sec: number) => new Date(t0 + sec * 1000).toISOString();
    const handle = { backend: 'local' as const, id: '7', process: { pid: 7 } };
    const serve = [
      { type: 'serve-starting' as const, ts: at(10), key: 'r1/srv', attempt: 1, port: 5, url: 'http://127.0.0.1:5/v1', servedName: 'srv', fingerprint: 'f' },
      { type: 'serve-started' as const, ts: at(10), key: 'r1/srv', attempt: 1, handle },
      { type: 'serve-ready' as const, ts: at(14), key: 'r1/srv', attempt: 1, url: 'http://127.0.0.1:5/v1', afterMs: 4000 },
      { type: 'serve-failed' as const, ts: at(30), key: 'r1/srv', attempt: 1, reason: 'died' as const, message: 'r1/srv ended (exit code 1) while r1/mine used it', evidence: [] },
      { type: 'serve-starting' as const, ts: at(31), key: 'r1/srv', attempt: 2, port: 6, url: 'http://127.0.0.1:6/v1', servedName: 'srv', fingerprint: 'f' },
      { type: 'serve-ready' as const, ts: at(33), key: 'r1/srv', attempt: 2, url: 'http://127.0.0.1:6/v1', afterMs: 2000 },
      { type: 'serve-stopped' as const, ts: at(40), key: 'r1/srv', attempt: 2, reason: 'its consumers are done' },
      { type: 'serve-failed' as const, ts: at(41), key: 'r1/srv', attempt: 2, reason: 'died' as const, message: 'late', evidence: [] },
    ];
    const t = buildTimeline(s, [...events, ...serve], Date.now(), false);
    assert.ok(t.rows.includes('r1/srv'));
    const bars = t.bars.filter((b) => b.server);
    assert.deepEqual(
      bars.map((b) => [b.attempt, b.kind, b.end - b.start, (b.launchEnd ?? 0) - b.start]),
      [
        [1, 'failed-deterministic', 20_000, 4000],
        [2, 'finished', 9000, 2000],
      ],
    );
    assert.equal(bars[0]?.message, 'r1/srv ended (exit code 1) while r1/mine used it');
    const time = accountTime(s, t, new Map());
    assert.equal(time.servingMs, 29_000);
    assert.deepEqual({ ...time, servingMs: 0 }, { ...base, servingMs: 0 }, 'training, commands and losses are as without the server');
  });
});
