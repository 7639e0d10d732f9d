import { readFileSync } from 'node:fs';
import { parseTrainerLogLine, type TrainerLogRecord } from '../llamafactory/trainer-log.js';
import type { AttemptRecord } from '../state/state.js';
import type { CurveSegment, Point } from './model.js';

/** Points kept per drawn line: enough for a chart a page wide, small enough for 2 MB at 10^4 steps. */
export const MAX_POINTS = 400;

/** Every record of a trainer_log.jsonl; a missing file is no records, a torn last line is skipped. */
export function readTrainerLog(path: string): TrainerLogRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: TrainerLogRecord[] = [];
  for (const line of text.split('\n')) {
    const r = parseTrainerLogLine(line);
    if (r) out.push(r);
  }
  return out;
}

/**
 * Splits the log of one output dir into the stretches each attempt wrote. LLaMA-Factory appends to
 * trainer_log.jsonl when it resumes, so a new attempt shows as the step going back (a resume from a
 * checkpoint before the last logged step, or a fresh start) or as a logged step repeated with a loss
 * (the closing line of a finished training repeats its last step without one).
 */
export function splitRuns(records: TrainerLogRecord[]): TrainerLogRecord[][] {
  const runs: TrainerLogRecord[][] = [];
  let cur: TrainerLogRecord[] = [];
  let prev: number | undefined;
  for (const r of records) {
    const s = r.current_steps;
    if (prev !== undefined && (s < prev || (s === prev && r.loss !== undefined))) {
      runs.push(cur);
      cur = [];
    }
    cur.push(r);
    prev = s;
  }
  if (cur.length > 0) runs.push(cur);
  return runs;
}

/**
 * A resume from the last logged step leaves no trace in the log (the step does not go back), so the
 * attempts' own resume points split the stretch that runs through them.
 */
export function splitAtResumes(runs: TrainerLogRecord[][], attempts: Pick<AttemptRecord, 'resumeFrom'>[], step = 1): TrainerLogRecord[][] {
  let out = runs;
  for (const a of attempts) {
    const r = a.resumeFrom;
    if (r === undefined) continue;
    const first = (run: TrainerLogRecord[]) => (run[0] as TrainerLogRecord).current_steps;
    if (out.some((run) => first(run) > r && first(run) - r <= 2 * step)) continue;
    const i = out.findIndex((run) => first(run) <= r && run.some((x) => x.current_steps > r));
    if (i < 0) continue;
    const run = out[i] as TrainerLogRecord[];
    const cut = run.findIndex((x) => x.current_steps > r);
    out = [...out.slice(0, i), run.slice(0, cut), run.slice(cut), ...out.slice(i + 1)];
  }
  return out;
}

/** The usual distance between logged steps (logging_steps), from the log itself. */
function stride(records: TrainerLogRecord[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < records.length; i++) {
    const g = (records[i] as TrainerLogRecord).current_steps - (records[i - 1] as TrainerLogRecord).current_steps;
    if (g > 0) gaps.push(g);
  }
  if (gaps.length === 0) return 1;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] as number;
}

/**
 * Which attempt wrote which stretch. An attempt that resumed from checkpoint-N starts logging just
 * after N; one that started fresh starts near step 0; an attempt that failed before its first logged
 * step wrote nothing. Matched from the newest stretch backwards, because the newest attempt is the
 * one that wrote the end of the file.
 */
export function matchAttempts(runs: TrainerLogRecord[][], attempts: Pick<AttemptRecord, 'n' | 'resumeFrom'>[], step = 1): (number | undefined)[] {
  const out: (number | undefined)[] = runs.map(() => undefined);
  let j = attempts.length - 1;
  for (let i = runs.length - 1; i >= 0; i--) {
    const first = (runs[i] as TrainerLogRecord[])[0]?.current_steps ?? 0;
    const fits = (a: Pick<AttemptRecord, 'resumeFrom'>): boolean => {
      const from = a.resumeFrom ?? 0;
      return first > from && first - from <= 2 * step;
    };
    while (j >= 0 && !fits(attempts[j] as Pick<AttemptRecord, 'resumeFrom'>)) j--;
    if (j < 0) break;
    out[i] = (attempts[j] as Pick<AttemptRecord, 'n'>).n;
    j--;
  }
  return out;
}

/** Curve segments of one stage instance, downsampled, with the redone steps of each resume marked. */
export function curveSegments(records: TrainerLogRecord[], attempts: AttemptRecord[], maxPoints = MAX_POINTS): CurveSegment[] {
  const step = stride(records);
  const { runs, owners } = capRuns(splitAtResumes(splitRuns(records), attempts, step), (r) => matchAttempts(r, attempts, step));
  const budget = Math.max(16, Math.floor(maxPoints / Math.max(1, runs.length)));
  let reached = 0;
  return runs.map((run, i) => {
    const firstStep = (run[0] as TrainerLogRecord).current_steps;
    const lastStep = (run[run.length - 1] as TrainerLogRecord).current_steps;
    const loss: Point[] = [];
    const lr: Point[] = [];
    for (const r of run) {
      if (typeof r.loss === 'number' && Number.isFinite(r.loss)) loss.push({ step: r.current_steps, value: r.loss });
      if (typeof r.lr === 'number' && Number.isFinite(r.lr)) lr.push({ step: r.current_steps, value: r.lr });
    }
    const n = owners[i];
    const smooth = loss.length > SMOOTH_FROM ? downsample(movingAverage(loss, loss.length / SMOOTH_WINDOWS), budget) : undefined;
    const seg: CurveSegment = { ...(n !== undefined ? { attempt: n } : {}), firstStep, lastStep, loss: downsample(loss, budget), ...(smooth ? { smooth } : {}), lr: downsample(lr, budget) };
    if (i > 0 && firstStep <= reached) {
      const a = attempts.find((x) => x.n === n);
      const from = a?.resumeFrom ?? Math.max(0, firstStep - 1);
      const before = n !== undefined ? [...attempts].reverse().find((x) => x.n < n && x.cause !== undefined) : undefined;
      seg.redone = { from, to: reached, ...(before?.cause !== undefined ? { cause: before.cause } : {}) };
    }
    reached = Math.max(reached, lastStep);
    return seg;
  });
}

/**
 * Stretches drawn per stage instance at most. A log whose step goes back thousands of times (a
 * trainer restarted in a loop) would otherwise give thousands of segments, each drawn against all
 * the later ones; the oldest ones are folded into one.
 */
export const MAX_SEGMENTS = 64;

/**
 * Keeps the newest MAX_SEGMENTS - 1 stretches (the ones attempts are matched to, newest first) and
 * folds the older ones into one line holding the newest value logged for each step: O(n log n).
 */
export function capRuns(all: TrainerLogRecord[][], match: (runs: TrainerLogRecord[][]) => (number | undefined)[]): { runs: TrainerLogRecord[][]; owners: (number | undefined)[] } {
  if (all.length <= MAX_SEGMENTS) return { runs: all, owners: match(all) };
  const cut = all.length - (MAX_SEGMENTS - 1);
  const byStep = new Map<number, TrainerLogRecord>();
  for (let i = 0; i < cut; i++) for (const r of all[i] as TrainerLogRecord[]) byStep.set(r.current_steps, r);
  const folded = [...byStep.values()].sort((a, b) => a.current_steps - b.current_steps);
  const runs = [folded, ...all.slice(cut)];
  const owners = match(runs);
  // the folded line is many attempts' work: it belongs to none of them
  owners[0] = undefined;
  return { runs, owners };
}

/** Below this many logged losses every point is drawn as it is; above, a moving average goes on top. */
const SMOOTH_FROM = 60;
/** The average spans about 1/60 of the curve, so its shape is the curve's, not the noise's. */
const SMOOTH_WINDOWS = 60;

/**
 * Centred moving average over about `window` points (narrower at the ends): unlike an exponential
 * average it does not lag behind a steep start, so the smoothed line sits on the raw one.
 */
export function movingAverage(points: Point[], window: number): Point[] {
  const half = Math.max(0, Math.floor(window / 2));
  const prefix = new Float64Array(points.length + 1);
  points.forEach((p, i) => (prefix[i + 1] = (prefix[i] as number) + p.value));
  return points.map((p, i) => {
    const h = Math.min(half, i, points.length - 1 - i);
    const sum = (prefix[i + h + 1] as number) - (prefix[i - h] as number);
    return { step: p.step, value: sum / (2 * h + 1) };
  });
}

/**
 * Largest-Triangle-Three-Buckets (Steinarsson 2013): keeps the first and last point and, per bucket,
 * the point that spans the largest triangle with its neighbours, so spikes and the overall shape
 * survive where plain striding would drop them.
 */
export function downsample(points: Point[], threshold: number): Point[] {
  if (threshold >= points.length || threshold < 3) return points.slice();
  const out: Point[] = [points[0] as Point];
  const every = (points.length - 2) / (threshold - 2);
  let a = 0;
  for (let i = 0; i < threshold - 2; i++) {
    const nextStart = Math.floor((i + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((i + 2) * every) + 1, points.length);
    let avgX = 0;
    let avgY = 0;
    for (let k = nextStart; k < nextEnd; k++) {
      avgX += (points[k] as Point).step;
      avgY += (points[k] as Point).value;
    }
    const len = Math.max(1, nextEnd - nextStart);
    avgX /= len;
    avgY /= len;
    const start = Math.floor(i * every) + 1;
    const end = Math.floor((i + 1) * every) + 1;
    const pa = points[a] as Point;
    let best = start;
    let bestArea = -1;
    for (let k = start; k < end; k++) {
      const p = points[k] as Point;
      const area = Math.abs((pa.step - avgX) * (p.value - pa.value) - (pa.step - p.step) * (avgY - pa.value));
      if (area > bestArea) {
        bestArea = area;
        best = k;
      }
    }
    out.push(points[best] as Point);
    a = best;
  }
  out.push(points[points.length - 1] as Point);
  return out;
}
