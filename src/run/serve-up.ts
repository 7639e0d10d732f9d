import type { Backend, JobExit, JobSpec, LiveJob } from '../backends/backend.js';
import type { Plan, ServeInstance } from '../pipeline/plan-types.js';
import type { GpuSpec } from '../pipeline/schema.js';
import { launchOf } from '../planner/serve-engines.js';
import type { Fingerprint } from '../state/fingerprint.js';
import { ensureDir } from '../state/run-dir.js';
import type { ServeState } from '../state/state.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readTailLines } from '../util/file-tail.js';
import { RunDir } from '../util/run-layout.js';
import { err, ok, type Result } from '../util/result.js';
import { now, type JobHandleRecord, type RunEvent, type ServeFailure } from './events.js';
import { freePort, waitUntilServing, type ServeReadiness } from './serve-ready.js';
import { sleep } from '../util/sleep.js';
import { dirname } from 'node:path';

/** A server this session brought up (or found again): where it answers, and how it ends. */
export interface UpServer {
  serve: ServeInstance;
  attempt: number;
  /** where consumers reach it (known once the backend placed it) */
  url: string;
  port: number;
  handle: JobHandleRecord;
  job: JobSpec;
  /** resolves when the server process ends, however that happens */
  exited: Promise<JobExit>;
  ended: boolean;
  /** set before flux-train stops it, so its end is no failure */
  stopping: boolean;
  /** a consumer watches for its death already */
  watched: boolean;
  /** found running from an earlier flux-train, though its model was trained again since */
  stale?: boolean;
  /** its unexpected end is recorded already */
  deathRecorded?: boolean;
  /** the one stop in progress or done */
  stopped?: Promise<void>;
  /** stops following the process (not the process) */
  unfollow: AbortController;
}

/** Why a server could not be brought up, with the evidence a consumer's failure shows. */
export type UpFailure = { kind: 'failed'; reason: ServeFailure | 'no-gpus'; message: string; evidence: string[] } | { kind: 'interrupted' };

export interface UpContext {
  plan: Plan;
  runId: string;
  backend: Backend;
  emit: (e: RunEvent) => void;
  interrupt: AbortSignal;
  graceSeconds: number;
  pollMs?: number;
}

const SERVER_LOG_LINES = 12;

/** The last lines of a server attempt's log, as evidence. */
export function serverLogTail(runDir: string, key: string, attempt: number): string[] {
  const path = new RunDir(runDir).attemptLog(key, attempt);
  return [`server log: ${path}`, ...readTailLines(path, SERVER_LOG_LINES).map((l) => (l.length > 300 ? `${l.slice(0, 297)}...` : l))];
}

/**
 * A server that a killed flux-train left running: re-used when it is the same server (same
 * fingerprint, the attempt the state recorded) and lists its model; otherwise stopped, so that
 * there is never a second server for one serve instance.
 */
export async function findRunning(c: UpContext, s: ServeInstance, fp: Fingerprint, known: ServeState | undefined, stale: boolean): Promise<UpServer | undefined> {
  const live = await c.backend.findJob(c.runId, s);
  if (!live?.running) return undefined;
  const same = !stale && live.fingerprint === fp.hash && known !== undefined && known.attempt === live.attempt && known.status !== 'stopped' && known.status !== 'failed';
  if (same) {
    const up = follow(c, s, live.attempt, known.port, live.handle, fp, true);
    const r = await untilReady(c, up);
    if (r.kind === 'ready') {
      c.emit({ type: 'serve-reused', ts: now(), key: s.key, attempt: live.attempt, url: up.url, handle: live.handle });
      return up;
    }
    up.unfollow.abort();
  }
  await stopLeftover(c, s.key, live, same ? 'an earlier flux-train left it running, but it no longer answers' : stale ? 'an earlier flux-train left it running, and its model was trained again since' : 'an earlier flux-train left it running for another configuration', c.graceSeconds);
  return undefined;
}

/** Stops a server an earlier flux-train left running (known only by its handle) and records why. */
export async function stopLeftover(c: UpContext, key: string, live: LiveJob, reason: string, graceSeconds: number): Promise<void> {
  await c.backend.stop(live.handle, graceSeconds);
  await c.backend.release(live.handle);
  c.emit({ type: 'serve-stopped', ts: now(), key, attempt: live.attempt, reason });
}

/** Starts a server on a free port and waits until GET /v1/models lists its model. */
export async function startServer(c: UpContext, s: ServeInstance, fp: Fingerprint, attempt: number, gpus: GpuSpec | undefined, ports: Set<number>): Promise<Result<UpServer, UpFailure>> {
  const launched = await launch(c, s, fp, attempt, gpus, ports);
  if (!launched.ok) return launched;
  const up = launched.value;
  const r = await untilReady(c, up);
  switch (r.kind) {
    case 'ready':
      c.emit({ type: 'serve-ready', ts: now(), key: s.key, attempt, url: up.url, afterMs: r.afterMs });
      return ok(up);
    case 'aborted':
      await stopServer(c, up, 'interrupted while it loaded', c.graceSeconds);
      return err({ kind: 'interrupted' });
    case 'died':
    case 'timeout': {
      if (r.kind === 'timeout') await stopServer(c, up, 'not ready in time', c.graceSeconds, false);
      else {
        await up.exited;
        await c.backend.release(up.handle);
      }
      const how = r.kind === 'died' ? 'exited before it was ready' : `was not ready after ${Math.round(r.afterMs / 1000)} s (ready_timeout_seconds: ${s.readyTimeoutMs / 1000})`;
      const failure = { kind: 'failed' as const, reason: r.kind === 'died' ? ('died' as const) : ('timeout' as const), message: `${s.key} ${how}; last answer: ${r.lastSeen}`, evidence: serverLogTail(c.plan.runDir, s.key, attempt) };
      c.emit({ type: 'serve-failed', ts: now(), key: s.key, attempt, reason: failure.reason, message: failure.message, evidence: failure.evidence });
      return err(failure);
    }
    default:
      return r satisfies never;
  }
}

/** A free port, the launch line and its inference YAML, and the backend's start. */
async function launch(c: UpContext, s: ServeInstance, fp: Fingerprint, attempt: number, gpus: GpuSpec | undefined, ports: Set<number>): Promise<Result<UpServer, UpFailure>> {
  // free on this host; on a batch node a clash is the server's own bind error, in its log
  const port = await freePort(ports, '127.0.0.1');
  if (!port.ok) return err({ kind: 'failed', reason: 'start-failed', message: `${s.key}: ${port.error}`, evidence: [port.error] });
  ports.add(port.value);
  const line = launchOf(s, port.value, gpus);
  // the planner refused a launch line it cannot build: this is never reached with a valid plan
  if (!line.ok) return err({ kind: 'failed', reason: 'start-failed', message: `${s.key}: no launch line (${line.error.kind})`, evidence: [] });
  if (line.value.config !== undefined) {
    ensureDir(dirname(s.configPath), 'configs folder');
    writeFileAtomic(s.configPath, line.value.config);
  }
  const stage: ServeInstance = { ...s, command: line.value.command, env: { ...s.env, ...line.value.env } };
  const job: JobSpec = { runId: c.runId, runDir: c.plan.runDir, stage, attempt, fingerprint: fp.hash, logPath: new RunDir(c.plan.runDir).attemptLog(s.key, attempt), ...(gpus !== undefined ? { gpus } : {}) };
  const planned = `http://${s.bindHost === '0.0.0.0' ? 'NODE' : s.bindHost}:${port.value}/v1`;
  c.emit({ type: 'serve-starting', ts: now(), key: s.key, attempt, port: port.value, url: planned, servedName: s.servedName, fingerprint: fp.hash, ...(typeof gpus === 'string' ? { gpus } : {}) });
  const started = await c.backend.start(job);
  if (!started.ok) {
    const failure = { kind: 'failed' as const, reason: 'start-failed' as const, message: `${s.key} could not start: ${started.error.message}`, evidence: [started.error.message] };
    c.emit({ type: 'serve-failed', ts: now(), key: s.key, attempt, reason: failure.reason, message: failure.message, evidence: failure.evidence });
    return err(failure);
  }
  c.emit({ type: 'serve-started', ts: now(), key: s.key, attempt, handle: started.value });
  return ok(followJob(c, job, port.value, started.value, false));
}

/**
 * Where the server answers (a batch job's node once it runs: time in the queue does not count against
 * ready_timeout_seconds), then until GET /v1/models lists its model there.
 */
async function untilReady(c: UpContext, up: UpServer): Promise<ServeReadiness> {
  const t0 = Date.now();
  let queued = false;
  for (;;) {
    if (c.interrupt.aborted) return { kind: 'aborted' };
    const place = await c.backend.placeOf(up.handle);
    if (place.kind === 'at') {
      up.url = `http://${place.address}:${up.port}/v1`;
      break;
    }
    if (place.kind === 'gone' || up.ended) return { kind: 'died', afterMs: Date.now() - t0, lastSeen: 'the job ended before it ran' };
    // once: a server waiting in a batch queue says why, instead of a silent wait
    if (!queued) c.emit({ type: 'warning', ts: now(), key: up.serve.key, message: `server waits to run: ${place.why}` });
    queued = true;
    await sleep(2000, c.interrupt);
  }
  return waitUntilServing({ baseUrl: up.url, model: up.serve.servedName, timeoutMs: up.serve.readyTimeoutMs, pollMs: c.pollMs ?? 500, alive: () => !up.ended, signal: c.interrupt });
}

function follow(c: UpContext, s: ServeInstance, attempt: number, port: number, handle: JobHandleRecord, fp: Fingerprint, resume: boolean): UpServer {
  const job: JobSpec = { runId: c.runId, runDir: c.plan.runDir, stage: s, attempt, fingerprint: fp.hash, logPath: new RunDir(c.plan.runDir).attemptLog(s.key, attempt) };
  return followJob(c, job, port, handle, resume);
}

function followJob(c: UpContext, job: JobSpec, port: number, handle: JobHandleRecord, resume: boolean): UpServer {
  const unfollow = new AbortController();
  const up: UpServer = { serve: job.stage as ServeInstance, attempt: job.attempt, url: '', port, handle, job, ended: false, stopping: false, watched: false, unfollow, exited: Promise.resolve({ kind: 'detached' }) };
  up.exited = c.backend.follow(handle, job, { resume, signal: unfollow.signal }).then(
    (x) => {
      if (x.kind !== 'detached') up.ended = true;
      return x;
    },
    (e: unknown) => {
      up.ended = true;
      return { kind: 'lost', why: (e as Error).message } as const;
    },
  );
  return up;
}

/** Stops a server (SIGTERM, then SIGKILL after the grace period), waits for it to end and records why. */
export function stopServer(c: UpContext, up: UpServer, reason: string, graceSeconds: number, record = true): Promise<void> {
  // a consumer's end and the run's end may both stop it: once is enough
  up.stopped ??= (async () => {
    up.stopping = true;
    if (!up.ended) await c.backend.stop(up.handle, graceSeconds);
    await Promise.race([up.exited, new Promise((r) => setTimeout(r, 5000 + graceSeconds * 1000))]);
    up.unfollow.abort();
    await c.backend.release(up.handle);
    if (record) c.emit({ type: 'serve-stopped', ts: now(), key: up.serve.key, attempt: up.attempt, reason });
  })();
  return up.stopped;
}
