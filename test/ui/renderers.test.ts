import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunEvent } from '../../src/run/events.js';
import { JsonRenderer, PlainRenderer } from '../../src/ui/plain.js';
import { chooseRenderer } from '../../src/ui/renderer.js';

const ts = '2026-11-26T00:00:00.000Z';
const events: RunEvent[] = [
  { type: 'run-started', ts, runId: 'r', pipeline: 'p.yaml', pipelineName: 'p', rounds: 2, backend: 'docker', image: 'i:1', pid: 1, host: 'h', argv: [] },
  { type: 'stage-starting', ts, key: 'r1/sft', attempt: 1, fingerprint: 'f', fields: {} },
  ...Array.from({ length: 100 }, (_, i): RunEvent => ({ type: 'stage-progress', ts, key: 'r1/sft', step: i + 1, total: 100, loss: 1 / (i + 1), lr: 1e-5, remaining: '0:01:00' })),
  { type: 'stage-finished', ts, key: 'r1/sft', attempt: 1, durationMs: 65_000, finalLoss: 0.01, fingerprint: 'f', fields: {}, manifest: [] },
  { type: 'stage-failed', ts, key: 'r1/dpo', attempt: 1, cause: 'gpu-oom', transient: false, exitCode: 1, oomKilled: false, shortMessage: 'r1/dpo: GPU out of memory', message: 'r1/dpo (attempt 1) exited with code 1: GPU out of memory.', evidence: [], willRetry: false },
  { type: 'run-finished', ts, ok: false, exitCode: 1, durationMs: 70_000, summary: '1 done, 1 failed' },
];

describe('renderers', () => {
  it('chooses the live view only on a TTY outside CI', () => {
    assert.equal(chooseRenderer({ isTTY: true, env: {} }), 'tty');
    assert.equal(chooseRenderer({ isTTY: false, env: {} }), 'plain');
    assert.equal(chooseRenderer({ isTTY: true, env: { CI: 'true' } }), 'plain');
    assert.equal(chooseRenderer({ isTTY: true, json: true, env: {} }), 'json');
    assert.equal(chooseRenderer({ isTTY: true, quiet: true, env: {} }), 'quiet');
  });

  it('plain: one line per event, progress thinned to every 10%', async () => {
    const lines: string[] = [];
    const r = new PlainRenderer((l) => lines.push(l), false, '/runs/p');
    for (const e of events) r.handle(e);
    r.footer('report: /runs/p/report.html');
    await r.end();
    const progress = lines.filter((l) => l.includes('step '));
    assert.ok(progress.length >= 10 && progress.length <= 12, `${progress.length} progress lines`);
    assert.match(progress[0] ?? '', /^r1\/sft: step 1\/100 {2}1\.0% {2}loss 1\.0000 {2}lr 1\.00e-5 {2}eta 0:01:00$/);
    assert.ok(lines.includes('r1/sft: finished in 1m05s, final loss 0.0100'));
    // it ends with the summary, the run dir and what to type next
    assert.deepEqual(lines.slice(-4), ['stopped: 1 done, 1 failed (1m10s)', 'report: /runs/p/report.html', 'run dir: /runs/p', 'next: flux-train logs r1/dpo --run-dir /runs/p']);
  });

  it('plain: the step LLaMA-Factory logs twice at the end is printed once; an interruption ends with resume', async () => {
    const lines: string[] = [];
    const r = new PlainRenderer((l) => lines.push(l), false, "/runs/it's here");
    r.handle({ type: 'stage-progress', ts, key: 'r1/sft', step: 8, total: 8, loss: 1.1 });
    r.handle({ type: 'stage-progress', ts, key: 'r1/sft', step: 8, total: 8 });
    r.handle({ type: 'stage-interrupted', ts, key: 'r1/dpo', attempt: 1, detached: false });
    r.handle({ type: 'run-finished', ts, ok: false, exitCode: 130, durationMs: 1000, summary: '1 done, 1 interrupted' });
    await r.end();
    assert.equal(lines.filter((l) => l.includes('step 8/8')).length, 1);
    assert.equal(lines.at(-1), `next: flux-train resume --run-dir '/runs/it'\\''s here'`);
  });

  it('quiet: failures and the summary only', async () => {
    const lines: string[] = [];
    const r = new PlainRenderer((l) => lines.push(l), true, '/runs/p');
    for (const e of events) r.handle(e);
    await r.end();
    assert.equal(lines.length, 4, lines.join('\n'));
    assert.match(lines[0] ?? '', /FAILED/);
    assert.match(lines[1] ?? '', /^stopped: /);
  });

  it('json: every event, one JSON object per line', () => {
    const lines: string[] = [];
    const r = new JsonRenderer((l) => lines.push(l));
    for (const e of events) r.handle(e);
    assert.equal(lines.length, events.length);
    const parsed = lines.map((l) => JSON.parse(l) as RunEvent);
    assert.deepEqual(parsed.map((e) => e.type).filter((t, i, a) => a.indexOf(t) === i), ['run-started', 'stage-starting', 'stage-progress', 'stage-finished', 'stage-failed', 'run-finished']);
  });
});
