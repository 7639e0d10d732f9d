import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { StageMetrics } from './events.js';

export type { StageMetrics };

/** The file a command stage writes into $FLUX_OUTPUT_DIR to report metrics. */
export const METRICS_FILE = 'metrics.json';

/** Metrics are a few numbers; a bigger file is a mistake (a dump of predictions), not metrics. */
const MAX_BYTES = 1024 * 1024;

export type MetricsRead = { kind: 'none' } | { kind: 'ok'; metrics: StageMetrics } | { kind: 'bad'; problem: string };

/**
 * Reads and checks a stage's metrics.json. No file is fine (most stages report none); a file that
 * is there must have the documented shape, because a metric silently dropped would show a round as
 * not evaluated when it was.
 */
export function readStageMetrics(outputDir: string): MetricsRead {
  const path = join(outputDir, METRICS_FILE);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return { kind: 'none' };
  }
  if (size > MAX_BYTES) return { kind: 'bad', problem: `${METRICS_FILE} is ${size} bytes; metrics are a few numbers (at most ${MAX_BYTES} bytes)` };
  let v: unknown;
  try {
    v = JSON.parse(readSmall(path, size));
  } catch (e) {
    return { kind: 'bad', problem: `${METRICS_FILE} is not JSON: ${(e as Error).message}` };
  }
  return checkMetrics(v);
}

function readSmall(path: string, size: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size);
    const n = readSync(fd, buf, 0, size, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The shape check, separate from the file so it can be tested on values. */
export function checkMetrics(v: unknown): MetricsRead {
  const expected = `expected {"<benchmark>": {"<metric>": <number>, ...}, ...}, e.g. {"aime24": {"accuracy": 0.43, "n": 30}}`;
  if (!isObject(v)) return { kind: 'bad', problem: `${METRICS_FILE}: ${expected}, got ${describe(v)}` };
  // entries then fromEntries: a benchmark named __proto__ becomes a key, not the object's prototype
  const out: [string, Record<string, number>][] = [];
  for (const [bench, m] of Object.entries(v)) {
    if (bench.trim() === '') return { kind: 'bad', problem: `${METRICS_FILE}: a benchmark name is empty` };
    if (!isObject(m)) return { kind: 'bad', problem: `${METRICS_FILE}: at ${bench}: ${expected}, got ${describe(m)}` };
    const row: [string, number][] = [];
    for (const [name, x] of Object.entries(m)) {
      if (name.trim() === '') return { kind: 'bad', problem: `${METRICS_FILE}: at ${bench}: a metric name is empty` };
      if (typeof x !== 'number' || !Number.isFinite(x)) return { kind: 'bad', problem: `${METRICS_FILE}: at ${bench}.${name}: expected a finite number, got ${describe(x)}` };
      row.push([name, x]);
    }
    if (row.length === 0) return { kind: 'bad', problem: `${METRICS_FILE}: at ${bench}: no metrics` };
    out.push([bench, Object.fromEntries(row)]);
  }
  if (out.length === 0) return { kind: 'bad', problem: `${METRICS_FILE}: no benchmarks; ${expected}` };
  return { kind: 'ok', metrics: Object.fromEntries(out) };
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  return typeof x === 'number' ? String(x) : typeof x;
}

/** `aime24.accuracy` style names, for tables and the report. */
export function flattenMetrics(m: StageMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [bench, row] of Object.entries(m)) for (const [name, x] of Object.entries(row)) out[`${bench}.${name}`] = x;
  return out;
}
