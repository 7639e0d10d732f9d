import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { collectReport } from '../../src/report/collect.js';
import { renderReport } from '../../src/report/html.js';
import type { ReportData } from '../../src/report/model.js';
import { syntheticRun } from '../helpers/synthetic-run.js';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe('report html: one self-contained page', () => {
  const dir = syntheticRun({ rounds: 3, steps: 10_000, faults: [{ key: 'r2/proposer_dpo', at: 6100, checkpoint: 6000, cause: 'nccl' }] });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const data = (): ReportData => {
    const r = collectReport(dir);
    assert.ok(r.ok);
    return r.value;
  };

  it('references nothing outside itself and runs no script', () => {
    const html = renderReport(data());
    assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, 'no network reference');
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|\ssrc=|@import|url\((?!#)/i);
    assert.match(html, /^<!doctype html>/);
  });

  it('stays small with 10,000 logged steps per stage over 3 rounds', () => {
    const bytes = Buffer.byteLength(renderReport(data()));
    assert.ok(bytes < 2 * 1024 * 1024, `${bytes} bytes`);
  });

  it('has a loss and a learning-rate chart per stage id, one timeline bar per attempt and the stage graph', () => {
    const d = data();
    const html = renderReport(d);
    for (const id of ['proposer_sft', 'proposer_dpo', 'reasoner_dpo']) {
      assert.match(html, new RegExp(`data-chart="loss:${id}"`));
      assert.match(html, new RegExp(`data-chart="learning rate:${id}"`));
    }
    assert.equal(count(html, /<g class="attempt"/g), 10);
    assert.equal(count(html, /<g class="attempt"[^>]*data-kind="failed-transient"/g), 1);
    assert.match(html, /r2\/proposer_dpo attempt 1: nccl at step 6100/, 'the failure line is in the hover text');
    assert.match(html, /class="redone"/, 'the redone steps are marked');
    assert.match(html, /data-chart="graph"/);
    assert.match(html, /effective training time/);
  });

  it('has an evaluation section only when there are metrics', () => {
    assert.doesNotMatch(renderReport(data()), /Evaluation by round/);
    for (const r of [1, 2, 3]) writeFileSync(join(dir, 'outputs', `r${r}`, 'reasoner_dpo', 'eval_results.json'), JSON.stringify({ eval_loss: 1 / r, eval_accuracy: 0.5 + r / 10 }));
    const html = renderReport(data());
    assert.match(html, /Evaluation by round/);
    assert.match(html, /data-chart="eval:reasoner_dpo:eval_accuracy"/);
    assert.match(html, /<td class="num">0\.8<\/td>/);
  });

  it('escapes what the run wrote (stage messages, paths)', () => {
    const d = data();
    const bar = d.timeline.bars[0];
    assert.ok(bar);
    bar.kind = 'failed-deterministic';
    bar.message = '</title><script>alert(1)</script>';
    const html = renderReport({ ...d, runDir: '/tmp/<b>' });
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /&lt;\/title&gt;&lt;script&gt;/);
    assert.match(html, /\/tmp\/&lt;b&gt;/);
    assert.doesNotMatch(html, /\/tmp\/<b>/);
  });

  it('says how the run stands: finished, in progress, or stopped without a recorded end', () => {
    const d = data();
    assert.match(renderReport(d), /class="pill ok">finished/);
    assert.match(renderReport({ ...d, inProgress: { pid: 42, host: 'gpu1', current: 'r3/reasoner_dpo' } }), /class="pill running">in progress: r3\/reasoner_dpo \(pid 42 on gpu1\)/);
    const cut = { ...d, timeline: { ...d.timeline, sessions: d.timeline.sessions.map((x) => ({ start: x.start, end: x.end })) } };
    assert.match(renderReport(cut), /class="pill stopped">stopped before its end was recorded/);
  });

  it('says so when nothing has been logged yet', () => {
    const d = data();
    const html = renderReport({ ...d, curves: [], evals: [] });
    assert.match(html, /No training step has been logged yet/);
  });
});
