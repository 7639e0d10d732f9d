import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lossSection, timelineSection } from '../../src/report/charts.js';
import type { StageCurves, TimeAccount, Timeline } from '../../src/report/model.js';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;
const pts = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ step: from + i, value: 2 / (from + i) }));

describe('report charts', () => {
  const curves: StageCurves[] = [
    {
      id: 'sft',
      rounds: [
        { key: 'r1/sft', round: 1, totalSteps: 20, segments: [{ attempt: 1, firstStep: 1, lastStep: 12, loss: pts(1, 12), lr: pts(1, 12) }, { attempt: 2, firstStep: 9, lastStep: 20, loss: pts(9, 20), lr: pts(9, 20), redone: { from: 8, to: 12, cause: 'nccl' } }] },
        { key: 'r2/sft', round: 2, totalSteps: 20, segments: [{ attempt: 1, firstStep: 1, lastStep: 20, loss: pts(1, 20), lr: [] }] },
      ],
    },
  ];

  it('overlays rounds, hatches redone steps, dashes the superseded stretch and joins the resumed line', () => {
    const html = lossSection(curves);
    const loss = html.slice(html.indexOf('data-chart="loss:sft"'), html.indexOf('data-chart="learning rate:sft"'));
    assert.equal(count(loss, /<path class="series"/g), 3, 'two attempts of round 1, one of round 2');
    assert.equal(count(loss, /class="series superseded"/g), 1);
    assert.equal(count(loss, /<rect class="redone"/g), 1);
    assert.match(loss, /r1\/sft: steps 9–12 trained again by attempt 2 after nccl \(NCCL error or timeout between GPUs\)/);
    assert.equal(count(loss, /<circle class="resume"/g), 1);
    const resumed = /<path class="series" d="([^"]+)" stroke="[^"]+"><title>r1\/sft attempt 2/.exec(loss)?.[1] ?? '';
    assert.equal(count(resumed, /L/g), 12, 'its 12 points, joined to step 8 of the attempt before');
    assert.match(html, /round 1 <span class="muted">\(2 attempts\)/);
    assert.match(lossSection([]), /No training step has been logged yet/);
  });

  it('says when a stage logged no learning rate instead of drawing an empty chart', () => {
    const html = lossSection([{ id: 'x', rounds: [{ key: 'r1/x', round: 1, segments: [{ firstStep: 1, lastStep: 3, loss: pts(1, 3), lr: [] }] }] }]);
    assert.match(html, /no learning rate logged/);
    assert.doesNotMatch(html, /data-chart="learning rate:x"/);
  });

  it('draws one bar per attempt with its hover text, and a legend of the outcomes present', () => {
    const t: Timeline = {
      startMs: 0,
      endMs: 60_000,
      rows: ['r1/a', 'r1/b'],
      sessions: [{ start: 0, end: 60_000, ok: true }],
      bars: [
        { key: 'r1/a', attempt: 1, start: 0, end: 10_000, kind: 'failed-transient', cause: 'gpu-oom', message: 'r1/a attempt 1: CUDA out of memory', reattached: false },
        { key: 'r1/a', attempt: 2, start: 15_000, end: 30_000, launchEnd: 17_000, kind: 'finished', reattached: true, resumeFrom: 4 },
        { key: 'r1/b', attempt: 1, start: 30_000, end: 60_000, kind: 'running', reattached: false },
      ],
    };
    const time: TimeAccount = { wallMs: 60_000, usefulTrainingMs: 45_000, commandMs: 0, servingMs: 0, lost: [{ why: 'gpu-oom: GPU out of memory', ms: 10_000 }], effectiveRatio: 0.75 };
    const html = timelineSection(t, time);
    assert.equal(count(html, /<g class="attempt"/g), 3);
    assert.match(html, /r1\/a attempt 1: failed, retried \(transient\), 10s\ncause: gpu-oom \(GPU out of memory\)\nr1\/a attempt 1: CUDA out of memory/);
    assert.match(html, /resumed from checkpoint-4\nstarting took 2s\nre-attached by a later session/);
    assert.match(html, /stroke-dasharray="3 2"/, 'the re-attached attempt is outlined');
    assert.match(html, /class="bar live"/);
    assert.doesNotMatch(html, /interrupted<\/span>|left running/, 'only outcomes that occur are in the legend');
    assert.match(html, /gpu-oom: GPU out of memory<\/td><td class="num">10s/);
  });
});
