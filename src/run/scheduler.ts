import type { Backend, JobExit, JobSpec, LiveJob } from '../backends/backend.js';
import { readTailLines } from '../util/file-tail.js';
import { listCheckpoints, outputManifest } from '../llamafactory/outputs.js';
import type { KeySet } from '../llamafactory/keys.js';
import { writeDatasetInfo, writeStageConfig } from '../planner/write-configs.js';
import type { Plan, PlanStage } from '../pipeline/plan-types.js';
import { RunDir } from '../util/run-layout.js';
import { actionOf, startsWork, type PlannedAction } from '../state/actions.js';
import type { Fingerprint } from '../state/fingerprint.js';
import type { RunState } from '../state/state.js';
import { assertInsideRunDir, ensureDir } from '../state/run-dir.js';
import { lastAttemptNumber } from '../state/store.js';
import { causeInfo, classify, failureParagraph, type Cause } from './causes.js';
import { now, type JobHandleRecord, type RunEvent, type StageOutcome } from './events.js';
import { AttemptProgress } from './progress.js';
import { readStageMetrics } from './stage-metrics.js';
import { moveAside, quarantineBroken } from './set-aside.js';
import { sleep } from '../util/sleep.js';
import { err, type Result } from '../util/result.js';
import { unreachable } from '../util/unreachable.js';
import { crashPoint } from '../util/crash-point.js';
import type { GpuSpec } from '../pipeline/schema.js';
import { GpuPool, withOwnMasterPort } from './gpu-pool.js';
import { runReady } from './ready-set.js';
import { attemptStart, isTransient, missingOutputs, type FailedAttempt } from './attempt-facts.js';
import { ServeManager } from './serve-manager.js';

export interface SchedulerOptions {
  plan: Plan;
  runId: string;
  backend: Backend;
  keySet: KeySet;
  fingerprints: Map<string, Fingerprint>;
  actions: PlannedAction[];
  /** the run's state as this session found it (read only: the scheduler tracks what it verifies itself) */
  initial: RunState;
  emit: (e: RunEvent) => void;
  maxAttempts: number;
  backoffSeconds: number;
  graceSeconds: number;
  /** Ctrl-C: stop the running job (or leave it, with detach) and return */
  interrupt: AbortSignal;
  /** a second Ctrl-C: kill the running job now instead of waiting out the grace period */
  kill?: AbortSignal;
  detach: boolean;
  pollMs?: number;
  /** tells the lock what is running, for a second CLI's error message */
  onCurrent?: (keys: string | undefined) => void;
  /** instances running at once, besides the GPU pool (default 1) */
  maxParallel?: number;
  /** after a failure, still start the instances that do not depend on it */
  keepGoing?: boolean;
}

export type { StageOutcome };

type WorkAction = Extract<PlannedAction, { action: 'run' | 'rerun' | 'resume' | 'reattach' }>;
type AttemptResult = { kind: 'done' | 'interrupted' | 'detached' } | FailedAttempt;
/** how following a job ended: the backend's word (detached: with --detach, Ctrl-C stopped only the following), or Ctrl-C stopped the job */
type Ended = JobExit | { kind: 'interrupted' };


export interface RunOutcome {
  exitCode: number;
  outcomes: Map<string, StageOutcome>;
}

const LOG_TAIL_LINES = 200;

/**
 * Executes a plan: every instance whose inputs are verified is ready and starts while --max-parallel
 * and the GPU pool allow (ready-set.ts), each through the backend, an output becoming another
 * stage's input only after it is verified. It consumes the plan and the
 * planned actions; it decides nothing about freshness itself.
 */
export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #outcomes = new Map<string, StageOutcome>();
  readonly #layout: RunDir;
  /** stage instances whose outputs are finished and verified: only these feed other stages */
  readonly #verified: Set<string>;
  /** the inference servers; set while run() runs */
  #serves: ServeManager | undefined;

  constructor(o: SchedulerOptions) {
    this.#o = o;
    this.#layout = new RunDir(o.plan.runDir);
    this.#verified = new Set(Object.values(o.initial.stages).filter((st) => st.status === 'done' && st.done !== undefined).map((st) => st.key));
  }

  async run(): Promise<RunOutcome> {
    const { plan, actions } = this.#o;
    const byKey = new Map(actions.map((a) => [a.key, a]));
    if (plan.stages.some((s) => s.kind === 'train')) writeDatasetInfo(plan);
    // Slurm places its jobs itself: only --max-parallel limits what is in flight there
    const pool = new GpuPool(plan.backend === 'slurm' ? 'none' : plan.gpuPool);
    const willRun = new Set(actions.filter(startsWork).map((a) => a.key));
    const serves = new ServeManager({ ...this.#o, pool, willRun });
    this.#serves = serves;
    let result: Awaited<ReturnType<typeof runReady>>;
    try {
      await serves.sweep();
      result = await this.#runReady(byKey, pool, serves);
    } finally {
      // after a failure or Ctrl-C, servers whose consumers never ran are still up
      await serves.close();
    }
    this.#o.onCurrent?.(undefined);
    for (const [k, v] of result.outcomes) this.#outcomes.set(k, v);
    return { exitCode: result.exitCode, outcomes: this.#outcomes };
  }

  #runReady(byKey: Map<string, PlannedAction>, pool: GpuPool, serves: ServeManager): ReturnType<typeof runReady> {
    return runReady(
      this.#o.plan.stages,
      {
        settle: (s) => this.#settle(s, actionOf(byKey, s.key)),
        reattach: (s) => this.#heldGpus(s, actionOf(byKey, s.key)),
        verified: (key) => this.#verified.has(key),
        block: (s, reason) => {
          this.#o.emit({ type: 'stage-blocked', ts: now(), key: s.key, reason });
          void serves.done(s.key);
        },
        // a throw ends the run, whose close() stops the servers
        launch: (s, gpus) => this.#work(s, actionOf(byKey, s.key) as WorkAction, gpus).then((o) => serves.done(s.key, o === 'detached').then(() => o)),
        onRunning: (keys) => this.#o.onCurrent?.(keys.length > 0 ? keys.join(', ') : undefined),
      },
      { maxParallel: this.#o.maxParallel ?? 1, keepGoing: this.#o.keepGoing ?? false, pool, interrupt: this.#o.interrupt },
    );
  }

  /** For a job that already runs: the GPU ids its attempt was given (else what its stage asks), so the pool never hands them out twice. */
  #heldGpus(s: PlanStage, a: PlannedAction): { gpus: GpuSpec } | undefined {
    if (a.action !== 'reattach') return undefined;
    const held = this.#o.initial.stages[s.key]?.attempts.find((x) => x.n === a.live.attempt)?.gpus;
    return { gpus: held ?? s.gpus };
  }

  /** The instances decided without running them; undefined for those that must run. */
  #settle(s: PlanStage, a: PlannedAction): StageOutcome | undefined {
    const emit = this.#o.emit;
    switch (a.action) {
      case 'skip':
        emit({ type: 'stage-skipped', ts: now(), key: s.key, reason: a.reason });
        return 'skipped';
      case 'blocked':
        emit({ type: 'stage-blocked', ts: now(), key: s.key, reason: a.reason });
        return 'blocked';
      case 'run':
      case 'rerun':
      case 'resume':
      case 'reattach':
        return undefined;
      default:
        return unreachable(a, 'action');
    }
  }

  /** Runs (or follows) a stage instance to its end, retrying transient failures. */
  async #work(s: PlanStage, a: WorkAction, gpus: GpuSpec | undefined): Promise<StageOutcome> {
    const emit = this.#o.emit;
    if (a.action === 'rerun' || a.action === 'run') moveAside(this.#layout, s, this.#o.emit, a.action === 'rerun' ? 'rerun' : 'earlier attempt left no usable checkpoint');
    if (a.action === 'resume') quarantineBroken(this.#layout, s, this.#o.emit);
    let attempt = a.action === 'reattach' ? a.live.attempt : lastAttemptNumber(this.#o.initial, this.#o.plan.runDir, s.key) + 1;
    let reattach = a.action === 'reattach' ? a.live : undefined;
    let previous: { cause: Cause; step: number | undefined } | undefined;
    for (let tries = 1; ; tries++) {
      const result = await this.#attempt(s, attempt, reattach, gpus);
      reattach = undefined;
      if (result.kind !== 'failed') return result.kind;
      const { cause, step } = result;
      if (cause.class === 'interrupted') {
        // stopped from outside (scancel, docker stop): an interruption to resume, not a failure
        emit({ type: 'warning', ts: now(), key: s.key, message: `${cause.title}: ${cause.evidence[0] ?? ''}` });
        emit({ type: 'stage-interrupted', ts: now(), key: s.key, attempt, detached: false });
        return 'interrupted';
      }
      const transient = isTransient(cause, step, previous);
      const willRetry = transient && tries < this.#o.maxAttempts && !this.#o.interrupt.aborted;
      this.#emitFailed(s, attempt, result, transient, willRetry);
      if (!willRetry) return 'failed';
      previous = { cause, step };
      const delayMs = this.#o.backoffSeconds * 1000 * 2 ** (tries - 1);
      quarantineBroken(this.#layout, s, this.#o.emit);
      const resumeFrom = listCheckpoints(s.outputDir).find((c) => c.valid)?.step;
      emit({ type: 'stage-retry', ts: now(), key: s.key, attempt: attempt + 1, delayMs, ...(resumeFrom !== undefined ? { resumeFrom } : {}) });
      await sleep(delayMs, this.#o.interrupt);
      if (this.#o.interrupt.aborted) return 'interrupted';
      attempt++;
    }
  }

  #emitFailed(s: PlanStage, attempt: number, r: FailedAttempt, transient: boolean, willRetry: boolean): void {
    const { cause, step, exitCode, oomKilled } = r;
    this.#o.emit({
      type: 'stage-failed',
      ts: now(),
      key: s.key,
      attempt,
      cause: cause.code,
      transient,
      exitCode,
      oomKilled,
      shortMessage: `${s.key} attempt ${attempt}: ${cause.title}${exitCode !== null ? ` (exit ${exitCode}${oomKilled ? ', OOMKilled' : ''})` : ''}`,
      message: failureParagraph(s.key, attempt, cause, exitCode, oomKilled, willRetry, this.#layout.attemptLog(s.key, attempt)),
      evidence: cause.evidence,
      ...(step !== undefined ? { step } : {}),
      willRetry,
    });
  }

  /** One attempt: start it (or re-attach to it), watch its progress until it exits, then judge it. */
  async #attempt(s: PlanStage, attempt: number, existing: LiveJob | undefined, gpus: GpuSpec | undefined): Promise<AttemptResult> {
    const { plan, emit } = this.#o;
    const fp = this.#o.fingerprints.get(s.key) as Fingerprint;
    const stage = gpus === undefined ? s : { ...s, env: withOwnMasterPort(s.env, gpus) };
    const job: JobSpec = { runId: this.#o.runId, runDir: plan.runDir, stage, attempt, fingerprint: fp.hash, logPath: this.#layout.attemptLog(s.key, attempt), ...(gpus !== undefined ? { gpus } : {}) };
    const t0 = Date.now();
    const progress = new AttemptProgress(s, emit);
    let handle: JobHandleRecord;
    if (existing) {
      handle = existing.handle;
      if (s.kind === 'command' && s.endpoints.length > 0) await this.#serves?.adopt(s);
      emit({ type: 'stage-reattached', ts: now(), key: s.key, attempt, handle, running: existing.running });
    } else {
      const started = await this.#start(s, job, fp);
      if (!started.ok) return started.error;
      handle = started.value;
    }
    progress.begin(existing !== undefined, this.#o.initial.stages[s.key]?.checkpoint);
    const ended = await this.#follow(handle, job, existing !== undefined, progress);
    const result = await this.#verdict(s, job, handle, ended, progress, fp, t0);
    // a consumer that failed because its server ended under it: the server's death is the cause, and a retry brings it up again
    const died = result.kind === 'failed' && s.kind === 'command' && s.endpoints.length > 0 ? await this.#serves?.diedUnder(s) : undefined;
    return died !== undefined && result.kind === 'failed' ? { ...result, cause: died } : result;
  }

  /** Writes the attempt's config and output dir and asks the backend to start the job. */
  async #start(s: PlanStage, job: JobSpec, fp: Fingerprint): Promise<Result<JobHandleRecord, FailedAttempt | { kind: 'interrupted' }>> {
    const { plan, emit } = this.#o;
    const resumeFrom = s.kind === 'train' ? listCheckpoints(s.outputDir).find((c) => c.valid)?.step : undefined;
    crashPoint('before-starting');
    // the output dir is checked and made before the start is recorded: a file in its way is bad input, not a started attempt
    assertInsideRunDir(plan.runDir, s.outputDir, `the output dir of ${s.key}`);
    ensureDir(s.outputDir, `output dir of ${s.key}`);
    emit({ type: 'stage-starting', ts: now(), key: s.key, attempt: job.attempt, fingerprint: fp.hash, fields: fp.fields, ...(resumeFrom !== undefined ? { resumeFrom } : {}), ...(typeof job.gpus === 'string' ? { gpus: job.gpus } : {}) });
    this.#verified.delete(s.key);
    if (s.kind === 'train') writeStageConfig(plan, s, this.#o.keySet);
    crashPoint('after-config');
    const endpoints = s.kind === 'command' && s.endpoints.length > 0 && this.#serves ? await this.#serves.acquire(s) : ({ kind: 'ok', env: {} } as const);
    if (endpoints.kind === 'interrupted') {
      emit({ type: 'stage-interrupted', ts: now(), key: s.key, attempt: job.attempt, detached: false });
      return err({ kind: 'interrupted' });
    }
    if (endpoints.kind === 'failed') return err({ kind: 'failed', cause: endpoints.cause, step: undefined, exitCode: null, oomKilled: false });
    const started = await this.#o.backend.start({ ...job, stage: { ...job.stage, env: { ...job.stage.env, ...endpoints.env } } });
    crashPoint('after-start');
    if (!started.ok) {
      const cause = classify({ exitCode: null, oomKilled: false, logTail: [], startFailure: started.error });
      return err({ kind: 'failed', cause, step: undefined, exitCode: null, oomKilled: false });
    }
    emit({ type: 'stage-started', ts: now(), key: s.key, attempt: job.attempt, handle: started.value });
    crashPoint('after-started');
    return started;
  }

  /** Follows the job until it exits, polling its progress; Ctrl-C stops it (or, with detach, only stops following). */
  async #follow(handle: JobHandleRecord, job: JobSpec, resume: boolean, progress: AttemptProgress): Promise<Ended> {
    const { backend } = this.#o;
    const timer = setInterval(() => progress.poll(), this.#o.pollMs ?? 1000);
    const follow = new AbortController();
    let interrupted = false;
    const onInterrupt = () => {
      interrupted = true;
      if (this.#o.detach) follow.abort();
      else void backend.stop(handle, this.#o.graceSeconds).catch(() => undefined);
    };
    const onKill = () => {
      interrupted = true;
      if (!this.#o.detach) void backend.stop(handle, 0).catch(() => undefined);
    };
    this.#o.interrupt.addEventListener('abort', onInterrupt, { once: true });
    this.#o.kill?.addEventListener('abort', onKill, { once: true });
    if (this.#o.interrupt.aborted) onInterrupt();
    if (this.#o.kill?.aborted) onKill();
    let exit: JobExit;
    try {
      exit = await backend.follow(handle, job, { resume, signal: follow.signal });
    } finally {
      clearInterval(timer);
      this.#o.interrupt.removeEventListener('abort', onInterrupt);
      this.#o.kill?.removeEventListener('abort', onKill);
    }
    progress.poll();
    if (follow.signal.aborted || exit.kind === 'detached') return { kind: 'detached' };
    if (interrupted) return { kind: 'interrupted' };
    return exit;
  }

  /** Judges how the attempt ended: finished only with a clean exit and every expected output in place. */
  async #verdict(s: PlanStage, job: JobSpec, handle: JobHandleRecord, ended: Ended, progress: AttemptProgress, fp: Fingerprint, t0: number): Promise<AttemptResult> {
    const { backend, emit } = this.#o;
    const attempt = job.attempt;
    // the failure signatures are in the last lines of the attempt's log, whoever wrote it
    const logTail = readTailLines(job.logPath, LOG_TAIL_LINES);
    if (ended.kind === 'detached') {
      emit({ type: 'stage-interrupted', ts: now(), key: s.key, attempt, detached: true });
      return { kind: 'detached' };
    }
    if (ended.kind === 'interrupted') {
      emit({ type: 'stage-interrupted', ts: now(), key: s.key, attempt, detached: false });
      await backend.release(handle);
      return { kind: 'interrupted' };
    }
    const exit = ended.kind === 'exited' ? ended : { exitCode: null, oomKilled: false, verdict: undefined };
    const cleanExit = exit.exitCode === 0 && !exit.oomKilled && exit.verdict === undefined;
    const missing = cleanExit ? missingOutputs(s) : [];
    const metrics = cleanExit && s.kind === 'command' ? readStageMetrics(s.outputDir) : ({ kind: 'none' } as const);
    if (cleanExit && missing.length === 0 && metrics.kind !== 'bad') {
      crashPoint('before-finished');
      emit({
        type: 'stage-finished',
        ts: now(),
        key: s.key,
        attempt,
        durationMs: Date.now() - attemptStart(this.#o.initial, s.key, attempt, t0),
        ...(progress.finalLoss !== undefined ? { finalLoss: progress.finalLoss } : {}),
        ...(progress.total !== undefined ? { steps: progress.total } : {}),
        fingerprint: fp.hash,
        fields: fp.fields,
        manifest: outputManifest(s.outputDir),
        ...(metrics.kind === 'ok' ? { metrics: metrics.metrics } : {}),
      });
      this.#verified.add(s.key);
      crashPoint('after-finished');
      await backend.release(handle);
      return { kind: 'done' };
    }
    const cause = !cleanExit
      ? classify({ exitCode: exit.exitCode, oomKilled: exit.oomKilled, logTail, ...(exit.verdict ? { verdict: exit.verdict } : {}) })
      : missing.length > 0
        ? { code: 'missing-outputs' as const, ...causeInfo('missing-outputs'), evidence: [`exit code 0, but missing: ${missing.join(', ')}`, ...logTail.slice(-3)] }
        : { code: 'bad-metrics' as const, ...causeInfo('bad-metrics'), evidence: [metrics.kind === 'bad' ? metrics.problem : '', ...logTail.slice(-3)] };
    await backend.release(handle);
    return { kind: 'failed', cause, step: progress.lastStep, exitCode: exit.exitCode, oomKilled: exit.oomKilled };
  }
}
