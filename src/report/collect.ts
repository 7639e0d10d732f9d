import { hostname } from 'node:os';
import { join } from 'node:path';
import { readOwner, type LockOwner } from '../state/lock.js';
import { RunDir } from '../util/run-layout.js';
import { sameProcessAlive } from '../util/proc.js';
import type { RunState } from '../state/state.js';
import { readEvents, readState } from '../state/store.js';
import { FluxError } from '../util/errors.js';
import { err, ok, type Result } from '../util/result.js';
import { curveSegments, MAX_POINTS, readTrainerLog } from './curves.js';
import { readEval } from './evals.js';
import { buildGraph, splitKey } from './graph.js';
import { instanceDetails } from './instances.js';
import type { CurveSegment, EvalResult, InstanceDetails, ReportData, StageCurves } from './model.js';
import { accountTime, buildTimeline, stageOrder } from './timeline.js';

export interface CollectOptions {
  nowMs?: number;
  maxPoints?: number;
  /** the caller is the `round` that holds the lock and is finishing: the run is not in progress */
  finishing?: boolean;
}

/**
 * Reads a run dir into the report's data: state.json for attempts, events.jsonl for what the state
 * does not keep (launch times, re-attaches, planned stages), each output dir's trainer_log.jsonl for
 * the curves. Safe while a run writes to it: state.json is replaced atomically and a torn last log
 * line is skipped.
 */
export function collectReport(runDir: string, o: CollectOptions = {}): Result<ReportData, FluxError> {
  const r = readState(runDir);
  if (!r.ok) return err(r.error);
  if (!r.value) return err(new FluxError('no-run', `no flux-train run in ${runDir} (no state.json)`, 'pass the run dir with --run-dir, or start a run with `flux-train round --n N`', 'bad-input'));
  const s: RunState = r.value;
  // a state written by hand or by an older version may lack lists the fold always creates
  for (const st of Object.values(s.stages)) st.attempts = Array.isArray(st.attempts) ? st.attempts : [];
  const nowMs = o.nowMs ?? Date.now();
  const { events, bad } = readEvents(runDir);
  const notes: string[] = bad.length > 0 ? [`${bad.length} unreadable line(s) in events.jsonl were skipped`] : [];
  const owner = o.finishing === true ? undefined : liveOwner(readOwner(new RunDir(runDir).lockFile), nowMs);
  const order = stageOrder(s, events);

  // the newest fingerprint fields of every instance, planned ones included (they have not run yet)
  const planned = new Map<string, Record<string, string>>();
  for (const e of events) if (e.type === 'stage-planned' || e.type === 'stage-starting') planned.set(e.key, e.fields);
  const fieldsOf = (key: string): Record<string, string> | undefined => s.stages[key]?.fields ?? planned.get(key);

  const segmentsByKey = new Map<string, CurveSegment[]>();
  const curves = new Map<string, StageCurves>();
  const evals: EvalResult[] = [];
  const instances: InstanceDetails[] = [];
  for (const key of order) {
    const k = splitKey(key);
    if (!k) continue;
    const outputDir = new RunDir(runDir).outputDir(k.round, k.id);
    const st = s.stages[key];
    const fields = fieldsOf(key) ?? {};
    if (fields['kind'] !== 'command') {
      const records = readTrainerLog(join(outputDir, 'trainer_log.jsonl'));
      if (records.length > 0) {
        const segments = curveSegments(records, st?.attempts ?? [], o.maxPoints ?? MAX_POINTS);
        segmentsByKey.set(key, segments);
        const c = curves.get(k.id) ?? { id: k.id, rounds: [] };
        const total = records[records.length - 1]?.total_steps;
        c.rounds.push({ key, round: k.round, ...(total !== undefined ? { totalSteps: total } : {}), segments });
        curves.set(k.id, c);
      }
    }
    const ev = readEval(key, outputDir);
    if (ev) evals.push(ev);
    const prev = fieldsOf(`r${k.round - 1}/${k.id}`);
    const d = instanceDetails(runDir, key, st, fields, prev);
    if (d) instances.push(d);
  }
  const timeline = buildTimeline(s, events, nowMs, owner !== undefined);
  return ok({
    runDir,
    pipelineName: s.pipelineName ?? '?',
    ...(s.runId !== undefined ? { runId: s.runId } : {}),
    ...(s.backend !== undefined ? { backend: s.backend } : {}),
    ...(s.rounds !== undefined ? { rounds: s.rounds } : {}),
    generatedAt: new Date(nowMs).toISOString(),
    ...(owner ? { inProgress: { pid: owner.pid, host: owner.host, ...(owner.current ? { current: owner.current } : {}) } } : {}),
    curves: [...curves.values()],
    timeline,
    time: accountTime(s, timeline, segmentsByKey),
    graph: buildGraph(s, order, planned),
    evals,
    instances,
    notes,
  });
}

/** The lock's owner if it is still running: a lock left by a crash does not make the run "in progress". */
function liveOwner(o: LockOwner | undefined, nowMs: number): LockOwner | undefined {
  if (!o) return undefined;
  if (o.host === hostname()) return sameProcessAlive(o.pid, o.startTime) ? o : undefined;
  const beat = Date.parse(o.heartbeat);
  return Number.isFinite(beat) && nowMs - beat < 120_000 ? o : undefined;
}
