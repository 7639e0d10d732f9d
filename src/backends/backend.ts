import type { GpuSpec } from '../pipeline/schema.js';
import type { JobStage, Plan, PlanStage } from '../pipeline/plan-types.js';
import type { JobHandleRecord } from '../run/events.js';
import type { FluxError } from '../util/errors.js';
import type { Result } from '../util/result.js';

/** What a backend needs to run one attempt of one stage instance. */
export interface JobSpec {
  runId: string;
  runDir: string;
  stage: JobStage;
  attempt: number;
  fingerprint: string;
  /** host path of the attempt's log file; the backend appends the job's output to it */
  logPath: string;
  /** the GPU ids this attempt got from the pool, which it must see; absent: the stage's own `gpus` */
  gpus?: GpuSpec;
}

/**
 * A backend's own word on why a job ended badly (Slurm's TIMEOUT, Docker's "no such image"),
 * already mapped to a generic cause; whatever it cannot name, the attempt's log decides.
 */
export interface BackendVerdict {
  cause: 'timeout' | 'node-failure' | 'preempted' | 'host-oom' | 'interrupted' | 'no-gpu-runtime' | 'image-missing' | undefined;
  /** the backend's evidence, e.g. "Slurm job state TIMEOUT" */
  evidence: string;
  /** how many last log lines support it */
  logLines: number;
}

/** How following a job ended. */
export type JobExit =
  /** it ended; `verdict` is set when the backend itself says it did not succeed */
  | { kind: 'exited'; exitCode: number | null; oomKilled: boolean; verdict?: BackendVerdict }
  /** following stopped (--detach); the job runs on */
  | { kind: 'detached' }
  /** the backend no longer knows the job (purged, its process gone without a word) */
  | { kind: 'lost'; why: string };

/** The job never ran: the engine or scheduler refused it, so there is nothing to clean up. */
export interface StartFailure {
  message: string;
  /** the generic cause, when the backend recognises its own error */
  cause?: 'no-gpu-runtime' | 'image-missing';
}

export interface LiveJob {
  handle: JobHandleRecord;
  /** how a person stops it by hand, in the backend's own terms (`docker stop NAME`, `scancel ID`) */
  stopCommand: string;
  running: boolean;
  attempt: number;
  fingerprint?: string;
}

export interface FollowOptions {
  /** stops following (not the job) when aborted */
  signal?: AbortSignal;
  /** re-attaching: append only output newer than what the log file already has */
  resume?: boolean;
}

/**
 * Runs stage attempts somewhere (a container, a host process, a Slurm job). Jobs are detached:
 * they outlive the CLI, and a later CLI finds them again with findJob and follows them. The
 * scheduler never knows which backend it talks to.
 */
export interface Backend {
  readonly name: 'docker' | 'local' | 'slurm';
  /** can the backend be reached at all (the engine answers, the scheduler responds)? */
  connect(): Promise<Result<void, FluxError>>;
  /** checks before any GPU is claimed; returns warnings, or the first blocking problem */
  preflight(plan: Plan, toRun: PlanStage[]): Promise<Result<string[], FluxError>>;
  start(job: JobSpec): Promise<Result<JobHandleRecord, StartFailure>>;
  /** the newest job of this run and stage instance, running or exited, if the backend still knows it */
  findJob(runId: string, stage: JobStage): Promise<LiveJob | undefined>;
  /** waits for the job to exit, making sure its output ends up in the attempt's log file; resolves with how it ended */
  follow(handle: JobHandleRecord, job: JobSpec, opts: FollowOptions): Promise<JobExit>;
  /** graceful stop: SIGTERM, then SIGKILL after graceSeconds */
  stop(handle: JobHandleRecord, graceSeconds: number): Promise<void>;
  /** forget a finished job (remove its container); its outcome is already recorded */
  release(handle: JobHandleRecord): Promise<void>;
  /** the address other jobs reach this one at (a server's consumers): this host, or the node a batch job was placed on once it runs */
  placeOf(handle: JobHandleRecord): Promise<JobPlace>;
}

/** Where a job runs, as far as the backend knows: an address, not yet (queued), or never (it ended). */
export type JobPlace = { kind: 'at'; address: string } | { kind: 'queued'; why: string } | { kind: 'gone' };
