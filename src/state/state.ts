import type { AttemptOutcome, EventOf, JobHandleRecord, ManifestEntry, RunEvent, ServeStatus, StageMetrics, StageStatus } from '../run/events.js';
import type { CauseCode } from '../run/causes.js';
import { unreachable } from '../util/unreachable.js';

export const STATE_SCHEMA_VERSION = 1;

export type { StageStatus };

export interface AttemptRecord {
  n: number;
  startedAt: string;
  endedAt?: string;
  handle?: JobHandleRecord;
  resumeFrom?: number;
  /** the GPU ids the pool gave this attempt */
  gpus?: string;
  /** first and last training step seen in this attempt (from trainer_log.jsonl) */
  firstStep?: number;
  lastStep?: number;
  exitCode?: number | null;
  oomKilled?: boolean;
  cause?: CauseCode;
  message?: string;
  outcome?: AttemptOutcome;
  /** steps trained again because they came after the checkpoint this attempt resumed from */
  stepsLost?: number;
}

export interface StageState {
  key: string;
  status: StageStatus;
  fingerprint?: string;
  fields?: Record<string, string>;
  attempts: AttemptRecord[];
  /** present only after verified success; removed before every (re)run */
  done?: { fingerprint: string; fields: Record<string, string>; manifest: ManifestEntry[]; finishedAt: string; finalLoss?: number; steps?: number; durationMs: number; metrics?: StageMetrics };
  progress?: { step: number; total: number; loss?: number; lr?: number; updatedAt: string };
  checkpoint?: number;
  lastCause?: CauseCode;
  lastMessage?: string;
  blockedReason?: string;
}

/** One server of the run, as far as the event log knows it: its newest attempt. */
export interface ServeState {
  key: string;
  status: ServeStatus;
  attempt: number;
  servedName: string;
  fingerprint: string;
  port: number;
  url: string;
  startedAt: string;
  handle?: JobHandleRecord;
  gpus?: string;
  readyAt?: string;
  /** how long GET /v1/models took to list the model */
  readyAfterMs?: number;
  stoppedAt?: string;
  stopReason?: string;
  failure?: string;
  /** attempts started over the run's life */
  starts: number;
}

export interface RunState {
  schema: number;
  runId?: string;
  pipeline?: string;
  pipelineName?: string;
  rounds?: number;
  backend?: string;
  image?: string;
  argv?: string[];
  createdAt?: string;
  updatedAt?: string;
  /** invocations of `round` against this run dir */
  sessions: { startedAt: string; endedAt?: string; pid: number; host: string; ok?: boolean; durationMs?: number }[];
  stages: Record<string, StageState>;
  /** the inference servers of serve stages (absent in run dirs from before they existed) */
  serves?: Record<string, ServeState>;
}

export function emptyState(): RunState {
  return { schema: STATE_SCHEMA_VERSION, sessions: [], stages: {}, serves: {} };
}

function stage(s: RunState, key: string): StageState {
  let st = s.stages[key];
  if (!st) {
    st = { key, status: 'pending', attempts: [] };
    s.stages[key] = st;
  }
  return st;
}

function attempt(st: StageState, n: number): AttemptRecord {
  let a = st.attempts.find((x) => x.n === n);
  if (!a) {
    a = { n, startedAt: new Date().toISOString() };
    st.attempts.push(a);
  }
  return a;
}

/**
 * The state is a fold of the event log: the same function keeps it current while running and
 * rebuilds it from events.jsonl when the state file is lost or corrupt.
 */
export function reduce(s: RunState, e: RunEvent): RunState {
  s.updatedAt = e.ts;
  switch (e.type) {
    case 'run-started':
      runStarted(s, e);
      break;
    case 'stage-planned': {
      const st = stage(s, e.key);
      if (e.action === 'blocked') st.blockedReason = e.reason;
      break;
    }
    case 'stage-skipped': {
      const st = stage(s, e.key);
      if (st.done === undefined) st.status = 'skipped';
      break;
    }
    case 'stage-starting':
      stageStarting(stage(s, e.key), e);
      break;
    case 'stage-started':
    case 'stage-reattached': {
      const st = stage(s, e.key);
      st.status = 'running';
      attempt(st, e.attempt).handle = e.handle;
      break;
    }
    case 'stage-progress':
      stageProgress(stage(s, e.key), e);
      break;
    case 'stage-checkpoint':
      stage(s, e.key).checkpoint = e.step;
      break;
    case 'stage-finished':
      stageFinished(stage(s, e.key), e);
      break;
    case 'stage-failed':
      stageFailed(stage(s, e.key), e);
      break;
    case 'stage-interrupted': {
      const st = stage(s, e.key);
      st.status = e.detached ? 'running' : 'interrupted';
      const a = attempt(st, e.attempt);
      a.outcome = e.detached ? 'detached' : 'interrupted';
      if (!e.detached) a.endedAt = e.ts;
      break;
    }
    case 'stage-blocked': {
      const st = stage(s, e.key);
      if (st.status !== 'done') st.status = 'blocked';
      st.blockedReason = e.reason;
      break;
    }
    case 'serve-starting':
    case 'serve-started':
    case 'serve-ready':
    case 'serve-reused':
    case 'serve-failed':
    case 'serve-stopped':
      reduceServe(s, e);
      break;
    case 'stage-retry':
    case 'stage-moved-aside':
    case 'checkpoint-quarantined':
    case 'lock-takeover':
    case 'warning':
      break;
    case 'run-finished':
      runFinished(s, e);
      break;
    default:
      unreachable(e, 'event');
  }
  return s;
}

function runStarted(s: RunState, e: EventOf<'run-started'>): void {
  s.runId = e.runId;
  s.pipeline = e.pipeline;
  s.pipelineName = e.pipelineName;
  s.rounds = Math.max(e.rounds, s.rounds ?? 0);
  s.backend = e.backend;
  s.image = e.image;
  s.argv = e.argv;
  s.createdAt ??= e.ts;
  s.sessions.push({ startedAt: e.ts, pid: e.pid, host: e.host });
}

function stageStarting(st: StageState, e: EventOf<'stage-starting'>): void {
  // the done marker goes before anything runs, so a crash can never leave a stale "done"
  delete st.done;
  delete st.blockedReason;
  st.status = 'running';
  st.fingerprint = e.fingerprint;
  st.fields = e.fields;
  const a = attempt(st, e.attempt);
  a.startedAt = e.ts;
  if (e.resumeFrom !== undefined) a.resumeFrom = e.resumeFrom;
  if (e.gpus !== undefined) a.gpus = e.gpus;
}

function stageProgress(st: StageState, e: EventOf<'stage-progress'>): void {
  st.progress = { step: e.step, total: e.total, ...(e.loss !== undefined ? { loss: e.loss } : {}), ...(e.lr !== undefined ? { lr: e.lr } : {}), updatedAt: e.ts };
  const a = st.attempts[st.attempts.length - 1];
  if (!a) return;
  a.firstStep ??= e.step;
  a.lastStep = Math.max(a.lastStep ?? 0, e.step);
  if (a.resumeFrom !== undefined && a.stepsLost === undefined) {
    // the previous attempt got further than the checkpoint this one restarted from
    const prev = st.attempts[st.attempts.length - 2];
    a.stepsLost = Math.max(0, (prev?.lastStep ?? a.resumeFrom) - a.resumeFrom);
  }
}

function stageFinished(st: StageState, e: EventOf<'stage-finished'>): void {
  st.status = 'done';
  st.done = {
    fingerprint: e.fingerprint,
    fields: e.fields,
    manifest: e.manifest,
    finishedAt: e.ts,
    durationMs: e.durationMs,
    ...(e.finalLoss !== undefined ? { finalLoss: e.finalLoss } : {}),
    ...(e.steps !== undefined ? { steps: e.steps } : {}),
    ...(e.metrics !== undefined ? { metrics: e.metrics } : {}),
  };
  st.fingerprint = e.fingerprint;
  st.fields = e.fields;
  delete st.lastCause;
  delete st.lastMessage;
  const a = attempt(st, e.attempt);
  a.endedAt = e.ts;
  a.outcome = 'finished';
  a.exitCode = 0;
}

function stageFailed(st: StageState, e: EventOf<'stage-failed'>): void {
  st.status = 'failed';
  st.lastCause = e.cause;
  st.lastMessage = e.shortMessage;
  const a = attempt(st, e.attempt);
  a.endedAt = e.ts;
  a.outcome = 'failed';
  a.exitCode = e.exitCode;
  a.oomKilled = e.oomKilled;
  a.cause = e.cause;
  a.message = e.shortMessage;
  if (e.step !== undefined) a.lastStep = Math.max(a.lastStep ?? 0, e.step);
}

function runFinished(s: RunState, e: EventOf<'run-finished'>): void {
  const last = s.sessions[s.sessions.length - 1];
  if (!last) return;
  last.endedAt = e.ts;
  last.ok = e.ok;
  last.durationMs = e.durationMs;
}

type ServeEvent = EventOf<'serve-starting' | 'serve-started' | 'serve-ready' | 'serve-reused' | 'serve-failed' | 'serve-stopped'>;

function reduceServe(s: RunState, e: ServeEvent): void {
  const serves = (s.serves ??= {});
  if (e.type === 'serve-starting') {
    const starts = (serves[e.key]?.starts ?? 0) + 1;
    serves[e.key] = { key: e.key, status: 'starting', attempt: e.attempt, servedName: e.servedName, fingerprint: e.fingerprint, port: e.port, url: e.url, startedAt: e.ts, starts, ...(e.gpus !== undefined ? { gpus: e.gpus } : {}) };
    return;
  }
  const sv = serves[e.key];
  // an event about an attempt the state no longer holds (a hand-edited state) changes nothing
  if (sv === undefined || sv.attempt !== e.attempt) return;
  switch (e.type) {
    case 'serve-started':
      sv.handle = e.handle;
      break;
    case 'serve-ready':
      sv.status = 'ready';
      sv.url = e.url;
      sv.readyAt = e.ts;
      sv.readyAfterMs = e.afterMs;
      break;
    case 'serve-reused':
      sv.status = 'ready';
      sv.url = e.url;
      sv.handle = e.handle;
      break;
    case 'serve-failed':
      sv.status = 'failed';
      sv.failure = e.message;
      sv.stoppedAt = e.ts;
      break;
    case 'serve-stopped':
      if (sv.status !== 'failed') sv.status = 'stopped';
      sv.stoppedAt = e.ts;
      sv.stopReason = e.reason;
      break;
    default:
      unreachable(e, 'serve event');
  }
}
