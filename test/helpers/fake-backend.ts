import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Backend, JobExit, JobSpec, LiveJob, StartFailure } from '../../src/backends/backend.js';
import type { PlanStage } from '../../src/pipeline/plan-types.js';
import type { JobHandleRecord } from '../../src/run/events.js';
import { err, ok, type Result } from '../../src/util/result.js';

/** What one attempt of a stage does in the fake backend. */
export type Script =
  /** exits with `exitCode` after writing `outputs` (the stage's declared outputs by default) and `log` lines */
  | { kind: 'exit'; exitCode: number; log?: string[]; outputs?: boolean; progress?: { step: number; total: number; loss: number }[]; /** more files the job writes into its output dir (name to content) */ files?: Record<string, string>; verdict?: Extract<JobExit, { kind: 'exited' }>['verdict'] }
  /** the engine refuses to start it */
  | { kind: 'refuse'; failure: StartFailure }
  /** the job disappears without a word */
  | { kind: 'lost' }
  /** runs until the follow signal aborts (--detach) or stop() is called */
  | { kind: 'hang' };

/**
 * An in-memory Backend for fast scheduler tests: no Docker, no processes. Each stage key has a list
 * of scripts, one per attempt (the last repeats); the default is a clean exit with every output.
 */
export class FakeBackend implements Backend {
  readonly name = 'docker' as const;
  readonly started: JobSpec[] = [];
  readonly stopped: string[] = [];
  readonly released: string[] = [];
  readonly live = new Map<string, LiveJob>();
  #stops = new Map<string, () => void>();
  constructor(readonly scripts: Record<string, Script[]> = {}) {}

  async connect(): Promise<Result<void, never>> {
    return ok(undefined);
  }
  async preflight(): Promise<Result<string[], never>> {
    return ok([]);
  }

  #script(key: string, attempt: number): Script {
    const list = this.scripts[key] ?? [];
    return list[Math.min(attempt, list.length) - 1] ?? { kind: 'exit', exitCode: 0 };
  }

  async start(job: JobSpec): Promise<Result<JobHandleRecord, StartFailure>> {
    const sc = this.#script(job.stage.key, this.started.filter((j) => j.stage.key === job.stage.key).length + 1);
    if (sc.kind === 'refuse') return err(sc.failure);
    this.started.push(job);
    return ok({ backend: 'docker', id: `c-${job.stage.key}-${job.attempt}`, name: `fake-${job.attempt}` });
  }

  async findJob(_runId: string, stage: PlanStage): Promise<LiveJob | undefined> {
    return this.live.get(stage.key);
  }

  async follow(handle: JobHandleRecord, job: JobSpec, opts: { signal?: AbortSignal }): Promise<JobExit> {
    const sc = this.#script(job.stage.key, this.started.filter((j) => j.stage.key === job.stage.key).length);
    mkdirSync(dirname(job.logPath), { recursive: true });
    appendFileSync(job.logPath, '');
    if (sc.kind === 'hang') {
      await new Promise<void>((resolve) => {
        this.#stops.set(handle.id, resolve);
        opts.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      return opts.signal?.aborted ? { kind: 'detached' } : { kind: 'exited', exitCode: 143, oomKilled: false };
    }
    if (sc.kind === 'lost') return { kind: 'lost', why: 'gone' };
    if (sc.kind !== 'exit') throw new Error('unreachable');
    for (const l of sc.log ?? []) appendFileSync(job.logPath, `${l}\n`);
    const s = job.stage;
    mkdirSync(s.outputDir, { recursive: true });
    for (const p of sc.progress ?? []) appendFileSync(join(s.outputDir, 'trainer_log.jsonl'), `${JSON.stringify({ current_steps: p.step, total_steps: p.total, loss: p.loss })}\n`);
    if (sc.outputs !== false) {
      if (s.kind === 'command') for (const f of s.expectedOutputs) writeFileSync(join(s.outputDir, f), 'x\n');
      else for (const f of ['train_results.json', 'trainer_state.json', 'config.json', 'model.safetensors']) writeFileSync(join(s.outputDir, f), '{}\n');
    }
    for (const [f, text] of Object.entries(sc.files ?? {})) writeFileSync(join(s.outputDir, f), text);
    return { kind: 'exited', exitCode: sc.exitCode, oomKilled: false, ...(sc.verdict ? { verdict: sc.verdict } : {}) };
  }

  async stop(handle: JobHandleRecord): Promise<void> {
    this.stopped.push(handle.id);
    this.#stops.get(handle.id)?.();
  }

  async placeOf(): Promise<{ kind: 'at'; address: string }> {
    return { kind: 'at', address: '127.0.0.1' };
  }

  async release(handle: JobHandleRecord): Promise<void> {
    this.released.push(handle.id);
  }
}
