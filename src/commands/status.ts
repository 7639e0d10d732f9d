import { readOwner, LOCK_FILE } from '../state/lock.js';
import { checkRunDirPath, runDirOption } from '../state/run-dir.js';
import type { RunState, StageState } from '../state/state.js';
import { hasRun, outputDirOfKey, readState, rebuildState } from '../state/store.js';
import { formatDuration } from '../ui/format.js';
import { FluxError } from '../util/errors.js';
import { EXIT } from './context.js';
import { join } from 'node:path';

export interface StatusOptions {
  runDir?: string;
  json?: boolean;
}

export interface StageRow {
  key: string;
  status: string;
  attempts: number;
  step?: number;
  total?: number;
  loss?: number;
  durationMs?: number;
  checkpoint?: number;
  lastCause?: string;
  stepsLost: number;
}

/** Useful training time over wall time, counting steps redone after resumes, start-up and waiting. */
export function effectiveTrainingTimeRatio(s: RunState, nowMs = Date.now()): number | undefined {
  const starts = s.sessions.map((x) => Date.parse(x.startedAt)).filter(Number.isFinite);
  if (starts.length === 0) return undefined;
  let wall = 0;
  for (const x of s.sessions) {
    const a = Date.parse(x.startedAt);
    const b = x.endedAt ? Date.parse(x.endedAt) : nowMs;
    if (Number.isFinite(a) && Number.isFinite(b)) wall += Math.max(0, b - a);
  }
  let useful = 0;
  for (const st of Object.values(s.stages)) {
    st.attempts.forEach((a, i) => {
      if (!a.endedAt) return;
      const dur = Date.parse(a.endedAt) - Date.parse(a.startedAt);
      const trained = (a.lastStep ?? 0) - (a.resumeFrom ?? 0);
      const redoneLater = st.attempts[i + 1]?.stepsLost ?? 0;
      if (trained <= 0 || dur <= 0) return;
      useful += (dur * Math.max(0, trained - redoneLater)) / trained;
    });
  }
  return wall > 0 ? Math.min(1, useful / wall) : undefined;
}

export function stageRows(s: RunState): StageRow[] {
  return Object.values(s.stages)
    .sort((a, b) => order(a) - order(b) || (a.key < b.key ? -1 : 1))
    .map((st) => ({
      key: st.key,
      status: st.status,
      attempts: st.attempts.length,
      ...(st.progress ? { step: st.progress.step, total: st.progress.total } : {}),
      ...((st.done?.finalLoss ?? st.progress?.loss) !== undefined ? { loss: (st.done?.finalLoss ?? st.progress?.loss) as number } : {}),
      ...(st.done ? { durationMs: st.done.durationMs } : {}),
      ...(st.checkpoint !== undefined ? { checkpoint: st.checkpoint } : {}),
      ...(st.lastCause ? { lastCause: st.lastCause } : {}),
      stepsLost: st.attempts.reduce((n, a) => n + (a.stepsLost ?? 0), 0),
    }));
}

function order(st: StageState): number {
  const m = /^r(\d+)\//.exec(st.key);
  return m ? Number(m[1]) : 0;
}

export async function statusCommand(o: StatusOptions): Promise<number> {
  const runDir = runDirOption(o.runDir, 'runs/reasonflux-v2');
  checkRunDirPath(runDir);
  const r = readState(runDir);
  if (!r.ok) throw r.error;
  let state = r.value;
  if (!state && hasRun(runDir)) {
    // state.json lost, event log kept: show what the events and the intact outputs prove (nothing is written)
    const { state: rebuilt, report } = rebuildState(runDir, outputDirOfKey(runDir));
    process.stderr.write(`note: ${join(runDir, 'state.json')} is missing; shown as rebuilt from ${report.events} events. \`flux-train repair --run-dir ${runDir}\` writes it back (the next \`round\` does too)\n`);
    state = rebuilt;
  }
  if (!state) throw new FluxError('no-run', `no flux-train run in ${runDir} (no state.json)`, 'pass the run dir with --run-dir, or start a run with `flux-train round --n N`', 2);
  const s = state;
  const rows = stageRows(s);
  const ettr = effectiveTrainingTimeRatio(s);
  const owner = readOwner(join(runDir, LOCK_FILE));
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ run_dir: runDir, run_id: s.runId, pipeline: s.pipeline, rounds: s.rounds, backend: s.backend, running: owner ? { pid: owner.pid, host: owner.host, current: owner.current } : null, effective_training_time_ratio: ettr ?? null, stages: rows }, null, 2)}\n`);
    return EXIT.ok;
  }
  const head = ['stage', 'status', 'tries', 'step', 'loss', 'time', 'ckpt', 'lost', 'last failure'];
  const table = rows.map((x) => [
    x.key,
    x.status,
    String(x.attempts),
    x.step !== undefined ? `${x.step}/${x.total}` : '-',
    x.loss !== undefined ? x.loss.toFixed(4) : '-',
    x.durationMs !== undefined ? formatDuration(x.durationMs) : '-',
    x.checkpoint !== undefined ? String(x.checkpoint) : '-',
    String(x.stepsLost),
    x.lastCause ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  process.stdout.write(`run ${runDir} (${s.pipelineName ?? '?'}, rounds 1..${s.rounds ?? '?'}, backend ${s.backend ?? '?'})${owner ? `, in use by pid ${owner.pid} on ${owner.host}${owner.current ? ` running ${owner.current}` : ''}` : ''}\n`);
  process.stdout.write(`${fmt(head)}\n${table.map(fmt).join('\n')}\n`);
  process.stdout.write(`effective training time ratio: ${ettr !== undefined ? `${(ettr * 100).toFixed(1)}%` : 'n/a'}\n`);
  return EXIT.ok;
}
