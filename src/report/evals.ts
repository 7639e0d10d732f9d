import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalResult } from './model.js';
import { splitKey } from './graph.js';
import { flattenMetrics, METRICS_FILE, readStageMetrics } from '../run/stage-metrics.js';

/** The files LLaMA-Factory writes for do_eval / do_predict, then the combined one. */
const SOURCES = ['eval_results.json', 'predict_results.json', 'all_results.json'];

/** Throughput and bookkeeping numbers that sit next to the metrics in those files but are not one. */
const NOT_A_METRIC = /(_runtime|_samples_per_second|_steps_per_second|^epoch)$/;

/**
 * Evaluation metrics of one stage instance, from its output dir: every numeric `eval_*` or
 * `predict_*` key of the files above (the first file that has a key wins). Undefined when there are
 * none: train stages write only `train_*` keys, and many command stages write no metrics.json.
 */
export function readEval(key: string, outputDir: string): EvalResult | undefined {
  const k = splitKey(key);
  if (!k) return undefined;
  const metrics: Record<string, number> = {};
  const sources: string[] = [];
  for (const file of SOURCES) {
    let v: unknown;
    try {
      v = JSON.parse(readFileSync(join(outputDir, file), 'utf8'));
    } catch {
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    let found = false;
    for (const [name, x] of Object.entries(v as Record<string, unknown>)) {
      if (!/^(eval|predict)_/.test(name) || NOT_A_METRIC.test(name) || typeof x !== 'number' || !Number.isFinite(x) || name in metrics) continue;
      metrics[name] = x;
      found = true;
    }
    if (found) sources.push(file);
  }
  // a command stage's metrics.json (checked when the stage finished), as `aime24.accuracy`
  const own = readStageMetrics(outputDir);
  if (own.kind === 'ok') {
    for (const [name, x] of Object.entries(flattenMetrics(own.metrics))) if (!(name in metrics)) metrics[name] = x;
    sources.push(METRICS_FILE);
  }
  if (sources.length === 0) return undefined;
  return { key, id: k.id, round: k.round, source: sources.join(', '), metrics };
}
