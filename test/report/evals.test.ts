import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readEval } from '../../src/report/evals.js';

describe('report evals: metrics from the files LLaMA-Factory writes', () => {
  it('takes eval_/predict_ numbers, leaves throughput out, first file wins, none is undefined', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-evals-'));
    try {
      assert.equal(readEval('r1/x', dir), undefined);
      writeFileSync(join(dir, 'all_results.json'), JSON.stringify({ epoch: 1, train_loss: 0.4, train_runtime: 9 }));
      assert.equal(readEval('r1/x', dir), undefined, 'training results are not evaluation');
      writeFileSync(join(dir, 'eval_results.json'), JSON.stringify({ eval_loss: 0.51, eval_accuracy: 0.8, eval_runtime: 3.2, eval_samples_per_second: 40, epoch: 1 }));
      writeFileSync(join(dir, 'all_results.json'), JSON.stringify({ eval_loss: 9, predict_bleu: 33.1, train_loss: 0.4 }));
      const r = readEval('r2/x', dir);
      assert.deepEqual(r, { key: 'r2/x', id: 'x', round: 2, source: 'eval_results.json, all_results.json', metrics: { eval_loss: 0.51, eval_accuracy: 0.8, predict_bleu: 33.1 } });
      writeFileSync(join(dir, 'eval_results.json'), '{"eval_loss": 0.5');
      assert.deepEqual(readEval('r2/x', dir)?.metrics, { eval_loss: 9, predict_bleu: 33.1 }, 'a half-written file is skipped');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes an eval command stage\'s metrics.json as bench.metric, and skips one of the wrong shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-evals-'));
    try {
      writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ aime24: { accuracy: 0.43, n: 30 }, math500: { accuracy: 0.7 } }));
      assert.deepEqual(readEval('r1/eval', dir), { key: 'r1/eval', id: 'eval', round: 1, source: 'metrics.json', metrics: { 'aime24.accuracy': 0.43, 'aime24.n': 30, 'math500.accuracy': 0.7 } });
      writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ aime24: 0.43 }));
      assert.equal(readEval('r1/eval', dir), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

