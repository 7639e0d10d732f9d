import { hostname } from 'node:os';
import { readOwner, type LockOwner } from '../state/lock.js';
import { RunDir } from '../util/run-layout.js';
import { checkRunDirPath } from '../state/run-dir.js';
import type { RunState, StageState } from '../state/state.js';
import type { StageMetrics } from '../run/events.js';
import { flattenMetrics } from '../run/stage-metrics.js';
import { hasRun, outputDirOfKey, readEvents, readState, rebuildState } from '../state/store.js';
import { sameProcessAlive } from '../util/proc.js';
import { formatDuration } from '../ui/format.js';
import { FluxError } from '../util/errors.js';
import { EXIT, resolveRunDir } from './context.js';
import { serveLines, serveRows } from './serve-rows.js';

export interface StatusOptions {
  runDir?: string;
  pipeline?: string;
  json?: boolean;
  wide?: boolean;
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
  startedAt?: string;
  endedAt?: string;
  outputDir: string;
  log?: string;
  /** a finished command stage's checked metrics.json */
  metrics?: StageMetrics;
}

/**
 * Useful training time over wall time, counting steps redone after resumes, start-up and waiting.
 * A session that never recorded its end (the CLI was killed) ended with its last event, not now.
 */
export function effectiveTrainingTimeRatio(s: RunState, nowMs = Date.now(), sessionEnds: (string | undefined)[] = []): number | undefined {
  const starts = s.sessions.map((x) => Date.parse(x.startedAt)).filter(Number.isFinite);
  if (starts.length === 0) return undefined;
  let wall = 0;
  s.sessions.forEach((x, i) => {
    const a = Date.parse(x.startedAt);
    const end = x.endedAt ?? sessionEnds[i];
    const b = end ? Date.parse(end) : nowMs;
    if (Number.isFinite(a) && Number.isFinite(b)) wall += Math.max(0, b - a);
  });
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

/** The timestamp of each session's last event, in session order (sessions begin with run-started). */
export function lastEventOfSessions(runDir: string): (string | undefined)[] {
  const ends: (string | undefined)[] = [];
  for (const e of readEvents(runDir).events) {
    if (e.type === 'run-started') ends.push(e.ts);
    else if (ends.length > 0) ends[ends.length - 1] = e.ts;
  }
  return ends;
}

export function stageRows(s: RunState, runDir: string): StageRow[] {
  // plan order: rounds in order, and within a round the order the stages were first planned in
  const roundOf = (st: StageState) => Number(/^r(\d+)\//.exec(st.key)?.[1] ?? 0);
  return Object.values(s.stages)
    .map((st, i) => ({ st, i }))
    .sort((a, b) => roundOf(a.st) - roundOf(b.st) || a.i - b.i)
    .map(({ st }) => {
      const first = st.attempts[0];
      const last = st.attempts[st.attempts.length - 1];
      const ended = st.status === 'running' ? undefined : last?.endedAt;
      return {
        key: st.key,
        status: st.status,
        attempts: st.attempts.length,
        ...(st.progress ? { step: st.progress.step, total: st.progress.total } : {}),
        ...((st.done?.finalLoss ?? st.progress?.loss) !== undefined ? { loss: (st.done?.finalLoss ?? st.progress?.loss) as number } : {}),
        ...(st.done ? { durationMs: st.done.durationMs } : {}),
        ...(st.checkpoint !== undefined ? { checkpoint: st.checkpoint } : {}),
        ...(st.lastCause ? { lastCause: st.lastCause } : {}),
        stepsLost: st.attempts.reduce((n, a) => n + (a.stepsLost ?? 0), 0),
        ...(first ? { startedAt: first.startedAt } : {}),
        ...(ended ? { endedAt: ended } : {}),
        outputDir: new RunDir(runDir).outputDirOfKey(st.key),
        ...(last ? { log: new RunDir(runDir).attemptLog(st.key, last.n) } : {}),
        ...(st.done?.metrics ? { metrics: st.done.metrics } : {}),
      };
    });
}

/** "in use" only while the owner lives: a dead pid on this host is a stale lock the next command takes over. */
function lockLine(owner: LockOwner | undefined): string {
  if (!owner) return '';
  const here = owner.host === hostname();
  if (here && !sameProcessAlive(owner.pid, owner.startTime)) return `, last run by pid ${owner.pid} (no longer running; its lock is stale and the next command takes it over)`;
  return `, in use by pid ${owner.pid} on ${owner.host}${owner.current ? ` running ${owner.current}` : ''}`;
}

function ownerAlive(owner: LockOwner | undefined): boolean {
  return owner !== undefined && (owner.host !== hostname() || sameProcessAlive(owner.pid, owner.startTime));
}

export async function statusCommand(o: StatusOptions): Promise<number> {
  const runDir = resolveRunDir(o);
  checkRunDirPath(runDir);
  const r = readState(runDir);
  if (!r.ok) throw r.error;
  let state = r.value;
  if (!state && hasRun(runDir)) {
    // state.json lost, event log kept: show what the events and the intact outputs prove (nothing is written)
    const { state: rebuilt, report } = rebuildState(runDir, outputDirOfKey(runDir));
    process.stderr.write(`note: ${new RunDir(runDir).stateFile} is missing; shown as rebuilt from ${report.events} events. \`flux-train repair --run-dir ${runDir}\` writes it back (the next \`round\` does too)\n`);
    state = rebuilt;
  }
  if (!state) throw new FluxError('no-run', `no flux-train run in ${runDir} (no state.json)`, 'pass the run dir with --run-dir, or start a run with `flux-train round --n N`', 'bad-input');
  const s = state;
  const rows = stageRows(s, runDir);
  const owner = readOwner(new RunDir(runDir).lockFile);
  const ends = lastEventOfSessions(runDir);
  // the newest session is still going only while its flux-train lives
  if (ownerAlive(owner) && ends.length > 0) ends[ends.length - 1] = undefined;
  const ettr = effectiveTrainingTimeRatio(s, Date.now(), ends);
  const serves = serveRows(s, runDir);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ run_dir: runDir, run_id: s.runId, pipeline: s.pipeline, rounds: s.rounds, backend: s.backend, running: owner && ownerAlive(owner) ? { pid: owner.pid, host: owner.host, current: owner.current } : null, effective_training_time_ratio: ettr ?? null, stages: rows, serves }, null, 2)}\n`);
    return EXIT.ok;
  }
  const head = ['stage', 'status', 'tries', 'step', 'loss', 'time', 'ckpt', 'lost', ...(o.wide ? ['started', 'ended', 'output dir', 'log'] : []), 'last failure'];
  const time = (t: string | undefined) => (t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
  const table = rows.map((x) => [
    x.key,
    x.status,
    String(x.attempts),
    x.step !== undefined ? `${x.step}/${x.total}` : '-',
    x.loss !== undefined ? x.loss.toFixed(4) : '-',
    x.durationMs !== undefined ? formatDuration(x.durationMs) : '-',
    x.checkpoint !== undefined ? String(x.checkpoint) : '-',
    String(x.stepsLost),
    ...(o.wide ? [time(x.startedAt), time(x.endedAt), x.outputDir, x.log ?? '-'] : []),
    x.lastCause ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  process.stdout.write(`run ${runDir} (${s.pipelineName ?? '?'}, rounds 1..${s.rounds ?? '?'}, backend ${s.backend ?? '?'})${lockLine(owner)}\n`);
  process.stdout.write(`${fmt(head)}\n${table.map(fmt).join('\n')}\n`);
  process.stdout.write(serveLines(serves, { running: ownerAlive(owner), wide: o.wide ?? false }));
  process.stdout.write(metricsLines(rows));
  process.stdout.write(`effective training time ratio: ${ettr !== undefined ? `${(ettr * 100).toFixed(1)}%` : 'n/a'}\n`);
  return EXIT.ok;
}

/** The metrics of finished stages, by round: `  round 1  eval  aime24.accuracy 0.4300  aime24.n 30`. */
export function metricsLines(rows: StageRow[]): string {
  const withMetrics = rows.filter((r) => r.metrics !== undefined);
  if (withMetrics.length === 0) return '';
  const lines = withMetrics.map((r) => {
    const m = /^r(\d+)\/(.+)$/.exec(r.key);
    const cells = Object.entries(flattenMetrics(r.metrics as StageMetrics)).map(([n, x]) => `${n} ${Number.isInteger(x) ? String(x) : x.toFixed(4)}`);
    return `  round ${m?.[1] ?? '?'}  ${m?.[2] ?? r.key}  ${cells.join('  ')}`;
  });
  return `metrics by round:\n${lines.join('\n')}\n`;
}
