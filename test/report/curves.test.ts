import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TrainerLogRecord } from '../../src/llamafactory/trainer-log.js';
import { curveSegments, downsample, matchAttempts, MAX_POINTS, MAX_SEGMENTS, movingAverage, readTrainerLog, splitRuns } from '../../src/report/curves.js';
import type { Point } from '../../src/report/model.js';

const rec = (s: number, loss?: number): TrainerLogRecord => ({ current_steps: s, total_steps: 20, ...(loss !== undefined ? { loss, lr: 1e-5 } : {}) });
const steps = (runs: TrainerLogRecord[][]) => runs.map((r) => r.map((x) => x.current_steps));

describe('report curves: splitting an appended trainer_log.jsonl into attempts', () => {
  it('starts a new stretch where the step goes back or a logged step repeats with a loss, not at the closing line', () => {
    const log = [rec(2, 1), rec(4, 0.9), rec(6, 0.8), rec(6, 0.8), rec(8, 0.7), rec(2, 1), rec(4, 0.9), rec(20, 0.1), rec(20)];
    assert.deepEqual(steps(splitRuns(log)), [[2, 4, 6], [6, 8], [2, 4, 20, 20]]);
  });

  it('gives each stretch to the attempt whose checkpoint it starts after; an attempt that logged nothing gets none', () => {
    const runs = splitRuns([rec(2, 1), rec(4, 1), rec(6, 1), rec(6, 1), rec(8, 1), rec(2, 1), rec(4, 1)]);
    // 1 logged 2..6, 2 resumed from checkpoint-4, 3 failed before logging, 4 started fresh
    assert.deepEqual(matchAttempts(runs, [{ n: 1 }, { n: 2, resumeFrom: 4 }, { n: 3 }, { n: 4 }], 2), [1, 2, 4]);
  });

  it('splits where an attempt resumed from the last logged step, which leaves no trace in the log', () => {
    const log = [rec(2, 1), rec(4, 0.9), rec(6, 0.8), rec(8, 0.7), rec(10, 0.6), rec(10)];
    const attempts = [{ n: 1, startedAt: '', outcome: 'failed' as const, cause: 'nccl' as const }, { n: 2, startedAt: '', resumeFrom: 4, outcome: 'finished' as const }];
    const segs = curveSegments(log, attempts);
    assert.deepEqual(segs.map((x) => [x.attempt, x.firstStep, x.lastStep, x.redone]), [[1, 2, 4, undefined], [2, 6, 10, undefined]]);
    // a resume that the log already shows is not split again
    assert.equal(curveSegments([rec(2, 1), rec(4, 1), rec(6, 1), rec(6, 1), rec(8, 1)], attempts).length, 2);
  });

  it('marks the steps a resumed attempt trained again, with the cause that stopped the previous one', () => {
    const log = [rec(2, 1), rec(4, 0.9), rec(6, 0.8), rec(6, 0.85), rec(8, 0.7), rec(10, 0.6), rec(10)];
    const segs = curveSegments(log, [
      { n: 1, startedAt: '', outcome: 'failed', cause: 'nccl' },
      { n: 2, startedAt: '', resumeFrom: 4, outcome: 'finished' },
    ]);
    assert.equal(segs.length, 2);
    assert.deepEqual([segs[0]?.attempt, segs[1]?.attempt], [1, 2]);
    assert.equal(segs[0]?.redone, undefined);
    assert.deepEqual(segs[1]?.redone, { from: 4, to: 6, cause: 'nccl' });
    assert.deepEqual(segs[1]?.loss.map((p) => p.step), [6, 8, 10], 'the closing line has no loss and adds no point');
    assert.equal(segs[1]?.lastStep, 10);
  });

  it('reads a log being written: a torn last line and garbage are skipped, a missing file is empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-curves-'));
    try {
      const p = join(dir, 'trainer_log.jsonl');
      writeFileSync(p, '{"current_steps": 1, "total_steps": 9, "loss": 2}\nnot json\n{"current_steps": 2, "total_st');
      assert.deepEqual(readTrainerLog(p).map((r) => r.current_steps), [1]);
      assert.deepEqual(readTrainerLog(join(dir, 'absent.jsonl')), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('report curves: downsampling keeps the shape', () => {
  const noisy: Point[] = Array.from({ length: 10_000 }, (_, i) => ({ step: i + 1, value: 2 / (1 + i * 0.01) + (i === 7_321 ? 5 : 0) }));

  it('LTTB keeps the ends, the count, the order and a one-step spike', () => {
    const d = downsample(noisy, 400);
    assert.equal(d.length, 400);
    assert.deepEqual(d[0], noisy[0]);
    assert.deepEqual(d.at(-1), noisy.at(-1));
    assert.ok(d.every((p, i) => i === 0 || p.step > (d[i - 1] as Point).step));
    assert.ok(d.some((p) => p.step === 7_322), 'the loss spike survives');
    assert.deepEqual(downsample(noisy.slice(0, 10), 400), noisy.slice(0, 10), 'short curves are kept as they are');
  });

  it('the moving average is centred (no lag on a straight line) and narrows at the ends', () => {
    const line = Array.from({ length: 101 }, (_, i) => ({ step: i, value: 3 * i }));
    assert.deepEqual(movingAverage(line, 11), line);
    const steps: Point[] = [0, 0, 9, 0, 0].map((v, i) => ({ step: i, value: v }));
    assert.deepEqual(movingAverage(steps, 3).map((p) => p.value), [0, 3, 3, 3, 0]);
  });

  it('long curves get a smoothed line and stay within the point budget', () => {
    const log = noisy.map((p) => rec(p.step, p.value));
    const [seg] = curveSegments(log, [{ n: 1, startedAt: '', outcome: 'finished' }], 400);
    assert.equal(seg?.loss.length, 400);
    assert.equal(seg?.smooth?.length, 400);
    assert.equal(seg?.lr.length, 400);
  });

  // review of issue 16: 20k step reversals gave 20k segments, each drawn against all later ones (quadratic)
  it('folds a log whose step goes back 20 000 times into at most MAX_SEGMENTS segments, the newest attempts kept', () => {
    const records: TrainerLogRecord[] = [];
    for (let i = 0; i < 20_000; i++) records.push(rec(5, 1 + (i % 7)), rec(3, 2));
    records.push(rec(3, 0.5), rec(4, 0.4), rec(5, 0.3));
    const segs = curveSegments(records, [{ n: 1, startedAt: 'a' }, { n: 2, startedAt: 'b', resumeFrom: 2, cause: 'gpu-oom' }]);
    assert.equal(segs.length, MAX_SEGMENTS);
    assert.equal(segs.at(-1)?.attempt, 2);
    assert.deepEqual(segs.at(-1)?.loss.map((p) => p.step), [3, 4, 5]);
    assert.equal(segs[0]?.attempt, undefined, 'the folded line belongs to no one attempt');
    assert.deepEqual(segs[0]?.loss.map((p) => p.step), [3, 5], 'one value per step, in step order');
    const points = segs.reduce((n, s) => n + s.loss.length + s.lr.length + (s.smooth?.length ?? 0), 0);
    assert.ok(points <= 3 * MAX_SEGMENTS * Math.max(16, MAX_POINTS / MAX_SEGMENTS), `${points} points`);
  });
});
