import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, JobSpec } from '../backends/backend.js';
import { readTailLines } from '../backends/common.js';
import { checkpointProblem, checkpointSteps, listCheckpoints, missingFinishedFiles, outputManifest } from '../llamafactory/outputs.js';
import { TrainerLogTail } from '../llamafactory/trainer-log.js';
import type { KeySet } from '../llamafactory/keys.js';
import { writeDatasetInfo, writeStageConfig } from '../planner/write-configs.js';
import type { Plan, PlanStage } from '../pipeline/plan-types.js';
import { RunDir } from '../util/run-layout.js';
import type { PlannedAction } from '../state/actions.js';
import type { Fingerprint } from '../state/fingerprint.js';
import type { RunState } from '../state/state.js';
import { assertInsideRunDir } from '../state/run-dir.js';
import { lastAttemptNumber } from '../state/store.js';
import { causeInfo, classify, type Cause } from './causes.js';
import { now, type JobHandleRecord, type RunEvent } from './events.js';
import { unreachable } from '../util/unreachable.js';
import { crashPoint } from '../util/crash-point.js';
import { EXIT } from '../util/errors.js';

export interface SchedulerOptions {
  plan: Plan;
  runId: string;
  backend: Backend;
  keySet: KeySet;
  fingerprints: Map<string, Fingerprint>;
  actions: PlannedAction[];
  /** the live state (kept current by emit) */
  state: () => RunState;
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
  onCurrent?: (key: string | undefined) => void;
}

export type StageOutcome = 'done' | 'failed' | 'interrupted' | 'detached' | 'blocked' | 'skipped';

export interface RunOutcome {
  exitCode: number;
  outcomes: Map<string, StageOutcome>;
}

const LOG_TAIL_LINES = 200;

/** Paths of one attempt's log, so `flux-train logs` finds them. */
export function attemptLogPath(runDir: string, key: string, attempt: number): string {
  return new RunDir(runDir).attemptLog(key, attempt);
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Executes a plan: one stage instance at a time in dependency order, each through the backend, an
 * output becoming the next stage's input only after it is verified. It consumes the plan and the
 * planned actions; it decides nothing about freshness itself.
 */
export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #outcomes = new Map<string, StageOutcome>();

  constructor(o: SchedulerOptions) {
    this.#o = o;
  }

  async run(): Promise<RunOutcome> {
    const { plan, actions } = this.#o;
    const byKey = new Map(actions.map((a) => [a.key, a]));
    if (plan.stages.some((s) => s.kind === 'train')) writeDatasetInfo(plan);
    let exitCode: number = EXIT.ok;
    for (const s of plan.stages) {
      if (this.#o.interrupt.aborted) {
        exitCode = EXIT.interrupted;
        break;
      }
      const a = byKey.get(s.key) as PlannedAction;
      const outcome = await this.#stage(s, a);
      this.#outcomes.set(s.key, outcome);
      if (outcome === 'failed' || outcome === 'blocked') exitCode = EXIT.stageFailed;
      if (outcome === 'interrupted' || outcome === 'detached') {
        exitCode = EXIT.interrupted;
        break;
      }
    }
    this.#o.onCurrent?.(undefined);
    return { exitCode, outcomes: this.#outcomes };
  }

  async #stage(s: PlanStage, a: PlannedAction): Promise<StageOutcome> {
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
        break;
      default:
        unreachable(a.action, 'action');
    }
    // an unverified output never feeds another stage
    const st = this.#o.state();
    const missing = s.dependsOn.filter((d) => st.stages[d]?.status !== 'done' || st.stages[d]?.done === undefined);
    if (missing.length > 0 && a.action !== 'reattach') {
      emit({ type: 'stage-blocked', ts: now(), key: s.key, reason: `input ${missing.join(', ')} is not finished and verified` });
      return 'blocked';
    }
    if (a.action === 'rerun' || a.action === 'run') this.#moveAside(s, a.action === 'rerun' ? 'rerun' : 'earlier attempt left no usable checkpoint');
    if (a.action === 'resume') this.#quarantineBroken(s);
    this.#o.onCurrent?.(s.key);
    const prevAttempts = lastAttemptNumber(st, this.#o.plan.runDir, s.key);
    let attempt = a.action === 'reattach' ? (a.live?.attempt ?? prevAttempts) : prevAttempts + 1;
    let reattach = a.action === 'reattach' ? a.live : undefined;
    let previousCause: { cause: Cause; step: number | undefined } | undefined;
    let tries = 0;
    for (;;) {
      tries++;
      const result = await this.#attempt(s, attempt, reattach?.handle, reattach?.running ?? false);
      reattach = undefined;
      if (result.kind !== 'failed') return result.kind;
      const { cause, step, exitCode, oomKilled } = result;
      if (cause.class === 'interrupted') {
        // stopped from outside (scancel, docker stop): an interruption to resume, not a failure
        emit({ type: 'warning', ts: now(), key: s.key, message: `${cause.title}: ${cause.evidence[0] ?? ''}` });
        emit({ type: 'stage-interrupted', ts: now(), key: s.key, attempt, detached: false });
        return 'interrupted';
      }
      let transient = cause.class === 'transient';
      // GPU OOM: once may be a fragmentation fluke; at the same step twice it is the config
      if (cause.code === 'gpu-oom') transient = !(previousCause?.cause.code === 'gpu-oom' && previousCause.step === step);
      if (cause.code === 'host-oom' && previousCause?.cause.code === 'host-oom') transient = false;
      const willRetry = transient && tries < this.#o.maxAttempts && !this.#o.interrupt.aborted;
      emit({
        type: 'stage-failed',
        ts: now(),
        key: s.key,
        attempt,
        cause: cause.code,
        transient,
        exitCode,
        oomKilled,
        shortMessage: `${s.key} attempt ${attempt}: ${cause.title}${exitCode !== null ? ` (exit ${exitCode}${oomKilled ? ', OOMKilled' : ''})` : ''}`,
        message: failureParagraph(s, attempt, cause, exitCode, oomKilled, willRetry, attemptLogPath(this.#o.plan.runDir, s.key, attempt)),
        evidence: cause.evidence,
        ...(step !== undefined ? { step } : {}),
        willRetry,
      });
      if (!willRetry) return 'failed';
      previousCause = { cause, step };
      const delayMs = this.#o.backoffSeconds * 1000 * 2 ** (tries - 1);
      this.#quarantineBroken(s);
      const resumeFrom = listCheckpoints(s.outputDir).find((c) => c.valid)?.step;
      emit({ type: 'stage-retry', ts: now(), key: s.key, attempt: attempt + 1, delayMs, ...(resumeFrom !== undefined ? { resumeFrom } : {}) });
      await sleep(delayMs, this.#o.interrupt);
      if (this.#o.interrupt.aborted) return 'interrupted';
      attempt++;
    }
  }

  async #attempt(
    s: PlanStage,
    attempt: number,
    existing: JobHandleRecord | undefined,
    running: boolean,
  ): Promise<{ kind: 'done' | 'interrupted' | 'detached' } | { kind: 'failed'; cause: Cause; step: number | undefined; exitCode: number | null; oomKilled: boolean }> {
    const { plan, backend, emit } = this.#o;
    const fp = this.#o.fingerprints.get(s.key) as Fingerprint;
    const job: JobSpec = { runId: this.#o.runId, runDir: plan.runDir, stage: s, attempt, fingerprint: fp.hash, logPath: attemptLogPath(plan.runDir, s.key, attempt) };
    const t0 = Date.now();
    // trainer_log.jsonl keeps the lines of earlier attempts (LLaMA-Factory appends on resume): progress
    // starts after them, so a resume from checkpoint-100 never shows "step 5/300" first
    const tail = new TrainerLogTail(join(s.outputDir, 'trainer_log.jsonl'));
    const earlier = tail.poll();
    let handle: JobHandleRecord;
    if (existing) {
      handle = existing;
      emit({ type: 'stage-reattached', ts: now(), key: s.key, attempt, handle, running });
    } else {
      const resumeFrom = s.kind === 'train' ? listCheckpoints(s.outputDir).find((c) => c.valid)?.step : undefined;
      crashPoint('before-starting');
      emit({ type: 'stage-starting', ts: now(), key: s.key, attempt, fingerprint: fp.hash, fields: fp.fields, ...(resumeFrom !== undefined ? { resumeFrom } : {}) });
      assertInsideRunDir(plan.runDir, s.outputDir, `the output dir of ${s.key}`);
      if (s.kind === 'train') writeStageConfig(plan, s, this.#o.keySet);
      mkdirSync(s.outputDir, { recursive: true });
      crashPoint('after-config');
      const started = await backend.start(job);
      crashPoint('after-start');
      if (!started.ok) {
        const cause = classify({ exitCode: null, oomKilled: false, logTail: [], startError: started.error.message });
        return { kind: 'failed', cause, step: undefined, exitCode: null, oomKilled: false };
      }
      handle = started.value;
      emit({ type: 'stage-started', ts: now(), key: s.key, attempt, handle });
      crashPoint('after-started');
    }

    // progress from trainer_log.jsonl and new checkpoints, polled while the job runs
    let lastStep: number | undefined;
    let finalLoss: number | undefined;
    let total: number | undefined;
    // checkpoints already there are old news; a new one counts once it is complete
    const seenCkpt = new Set(checkpointSteps(s.outputDir));
    // re-attached: the job ran unwatched, so where it stands now is news (its newest line and checkpoint)
    let replay = existing ? earlier.slice(-1) : [];
    if (existing && s.kind === 'train') {
      const newest = listCheckpoints(s.outputDir).find((c) => c.valid)?.step;
      if (newest !== undefined && newest !== this.#o.state().stages[s.key]?.checkpoint) emit({ type: 'stage-checkpoint', ts: now(), key: s.key, step: newest });
    }
    const pollProgress = () => {
      const records = [...replay, ...tail.poll()];
      replay = [];
      for (const r of records) {
        lastStep = r.current_steps;
        total = r.total_steps;
        if (r.loss !== undefined) finalLoss = r.loss;
        emit({
          type: 'stage-progress',
          ts: now(),
          key: s.key,
          step: r.current_steps,
          total: r.total_steps,
          ...(r.loss !== undefined ? { loss: r.loss } : {}),
          ...(r.lr !== undefined ? { lr: r.lr } : {}),
          ...(r.epoch !== undefined ? { epoch: r.epoch } : {}),
          ...(r.percentage !== undefined ? { percentage: r.percentage } : {}),
          ...(r.elapsed_time !== undefined ? { elapsed: r.elapsed_time } : {}),
          ...(r.remaining_time !== undefined ? { remaining: r.remaining_time } : {}),
        });
      }
      if (s.kind === 'train') {
        for (const step of checkpointSteps(s.outputDir)) {
          if (seenCkpt.has(step) || checkpointProblem(join(s.outputDir, `checkpoint-${step}`), step) !== undefined) continue;
          seenCkpt.add(step);
          emit({ type: 'stage-checkpoint', ts: now(), key: s.key, step });
          crashPoint('checkpoint-seen');
        }
      }
    };
    const timer = setInterval(pollProgress, this.#o.pollMs ?? 1000);
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
    let exit;
    try {
      exit = await backend.follow(handle, job, {
        resume: existing !== undefined,
        signal: follow.signal,
      });
    } finally {
      clearInterval(timer);
      this.#o.interrupt.removeEventListener('abort', onInterrupt);
      this.#o.kill?.removeEventListener('abort', onKill);
    }
    pollProgress();
    // the failure signatures are in the last lines of the attempt's log, whoever wrote it
    const logTail = readTailLines(job.logPath, LOG_TAIL_LINES);
    if (follow.signal.aborted) {
      emit({ type: 'stage-interrupted', ts: now(), key: s.key, attempt, detached: true });
      return { kind: 'detached' };
    }
    if (interrupted) {
      emit({ type: 'stage-interrupted', ts: now(), key: s.key, attempt, detached: false });
      await backend.release(handle);
      return { kind: 'interrupted' };
    }
    const cleanExit = exit.exitCode === 0 && !exit.oomKilled && (exit.schedulerState === undefined || exit.schedulerState === 'COMPLETED');
    const missing = cleanExit ? this.#missingOutputs(s) : [];
    if (cleanExit && missing.length === 0) {
      crashPoint('before-finished');
      emit({
        type: 'stage-finished',
        ts: now(),
        key: s.key,
        attempt,
        durationMs: Date.now() - attemptStart(this.#o.state(), s.key, attempt, t0),
        ...(finalLoss !== undefined ? { finalLoss } : {}),
        ...(total !== undefined ? { steps: total } : {}),
        fingerprint: fp.hash,
        fields: fp.fields,
        manifest: outputManifest(s.outputDir),
      });
      crashPoint('after-finished');
      await backend.release(handle);
      return { kind: 'done' };
    }
    const cause =
      cleanExit
        ? { code: 'missing-outputs' as const, ...causeInfo('missing-outputs'), evidence: [`exit code 0, but missing: ${missing.join(', ')}`, ...logTail.slice(-3)] }
        : classify({ exitCode: exit.exitCode, oomKilled: exit.oomKilled, logTail, ...(exit.startError ? { startError: exit.startError } : {}), ...(exit.schedulerState ? { schedulerState: exit.schedulerState } : {}) });
    await backend.release(handle);
    return { kind: 'failed', cause, step: lastStep, exitCode: exit.exitCode, oomKilled: exit.oomKilled };
  }

  #missingOutputs(s: PlanStage): string[] {
    if (s.kind === 'train') return missingFinishedFiles(s.outputDir);
    return s.expectedOutputs.filter((f) => !existsSync(join(s.outputDir, f)));
  }

  /** Old outputs are never deleted: they go to trash/ with a timestamp. */
  #moveAside(s: PlanStage, reason: string): void {
    const runDir = this.#o.plan.runDir;
    assertInsideRunDir(runDir, s.outputDir, `the output dir of ${s.key}`);
    if (!existsSync(s.outputDir) || readdirSync(s.outputDir).length === 0) return;
    const layout = new RunDir(runDir);
    const to = layout.trashFor(s.key);
    assertInsideRunDir(runDir, to, 'the trash folder');
    mkdirSync(layout.trashDir, { recursive: true });
    renameSync(s.outputDir, to);
    this.#o.emit({ type: 'stage-moved-aside', ts: now(), key: s.key, from: s.outputDir, to, reason });
  }

  /** Checkpoints newer than the newest valid one (a crash mid-save) would be picked by LLaMA-Factory: move them out. */
  #quarantineBroken(s: PlanStage): void {
    if (s.kind !== 'train') return;
    const cps = listCheckpoints(s.outputDir);
    const valid = cps.find((c) => c.valid);
    for (const c of cps) {
      if (c.valid || (valid && c.step < valid.step)) continue;
      const layout = new RunDir(this.#o.plan.runDir);
      const dir = layout.quarantineDir(s.key);
      const to = layout.quarantinedCheckpoint(s.key, c.step);
      assertInsideRunDir(this.#o.plan.runDir, c.path, 'the checkpoint');
      assertInsideRunDir(this.#o.plan.runDir, to, 'the quarantine folder');
      mkdirSync(dir, { recursive: true });
      renameSync(c.path, to);
      this.#o.emit({ type: 'checkpoint-quarantined', ts: now(), key: s.key, path: c.path, to, why: c.problem ?? 'invalid' });
    }
  }
}

/** When an attempt really started: a re-attached one started in an earlier session. */
function attemptStart(state: RunState, key: string, attempt: number, fallback: number): number {
  const at = Date.parse(state.stages[key]?.attempts.find((a) => a.n === attempt)?.startedAt ?? '');
  return Number.isFinite(at) && at < fallback ? at : fallback;
}

/** The one-paragraph failure report: cause, evidence, what to do. */
export function failureParagraph(s: PlanStage, attempt: number, cause: Cause, exitCode: number | null, oomKilled: boolean, willRetry: boolean, logPath: string): string {
  const how = exitCode === null ? 'could not start' : `exited with code ${exitCode}${oomKilled ? ' and was OOM-killed' : ''}`;
  const ev = cause.evidence.length > 0 ? ` Evidence: ${cause.evidence.map((l) => `"${l.trim()}"`).join(' / ')}.` : '';
  const next = willRetry ? ' flux-train retries it from the last checkpoint.' : ` To do: ${cause.fix}.`;
  return `${s.key} (attempt ${attempt}) ${how}: ${cause.title}.${ev}${next} Full log: ${logPath}`;
}
