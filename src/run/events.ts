import type { CauseCode } from './causes.js';

/**
 * Every transition of a run, as one discriminated union. The scheduler emits them; the TTY view,
 * the plain log, --json, the event log on disk and the state file all consume the same values.
 */
/** What `round` decided for a stage instance (the tags of PlannedAction in src/state/actions.ts). */
export type StageAction = 'skip' | 'run' | 'rerun' | 'resume' | 'reattach' | 'blocked';

/** Where a stage instance stands (state.json's `status`). */
export type StageStatus = 'pending' | 'running' | 'done' | 'failed' | 'interrupted' | 'blocked' | 'skipped';

/** How one session's work on a stage instance ended: a settled status, or detached (left running unwatched). */
export type StageOutcome = Exclude<StageStatus, 'pending' | 'running'> | 'detached';

/** How one attempt ended (state.json's `attempts[].outcome`; the words older run dirs hold). */
export type AttemptOutcome = 'finished' | 'failed' | 'interrupted' | 'detached';

/** Why a server failed: not ready in time, its process ended (before ready, or while consumers used it), or the backend refused to start it. */
export type ServeFailure = 'timeout' | 'died' | 'start-failed';

/** Where a server stands (state.json's `serves[key].status`). */
export type ServeStatus = 'starting' | 'ready' | 'stopped' | 'failed';

/** What an eval stage reports in metrics.json: benchmark, then metric, e.g. `{"aime24": {"accuracy": 0.43, "n": 30}}`. */
export type StageMetrics = Record<string, Record<string, number>>;

export interface ManifestEntry {
  name: string;
  size: number;
}

interface Base {
  ts: string;
}

export type RunEvent = Base &
  (
    | {
        type: 'run-started';
        runId: string;
        /** as typed; relative to `cwd` */
        pipeline: string;
        /** the pipeline file's absolute path and the working directory the command ran in, so a resume from anywhere finds what the argv names (absent in runs from before they were recorded) */
        pipelinePath?: string;
        cwd?: string;
        pipelineName: string;
        rounds: number;
        backend: string;
        image: string;
        pid: number;
        host: string;
        argv: string[];
      }
    | { type: 'stage-planned'; key: string; action: StageAction; reason: string; fingerprint: string; fields: Record<string, string>; checkpoint?: number }
    | { type: 'stage-skipped'; key: string; reason: string }
    | { type: 'stage-starting'; key: string; attempt: number; fingerprint: string; fields: Record<string, string>; resumeFrom?: number; /** GPU ids the pool gave this attempt, recorded before it starts so a re-attach holds the same ones */ gpus?: string }
    | { type: 'stage-started'; key: string; attempt: number; handle: JobHandleRecord }
    | { type: 'stage-reattached'; key: string; attempt: number; handle: JobHandleRecord; running: boolean }
    | { type: 'stage-progress'; key: string; step: number; total: number; loss?: number; lr?: number; epoch?: number; percentage?: number; elapsed?: string; remaining?: string }
    | { type: 'stage-checkpoint'; key: string; step: number }
    | { type: 'stage-finished'; key: string; attempt: number; durationMs: number; finalLoss?: number; steps?: number; fingerprint: string; fields: Record<string, string>; manifest: ManifestEntry[]; /** a command stage's checked metrics.json */ metrics?: StageMetrics }
    | { type: 'stage-failed'; key: string; attempt: number; cause: CauseCode; transient: boolean; exitCode: number | null; oomKilled: boolean; shortMessage: string; message: string; evidence: string[]; step?: number; willRetry: boolean }
    | { type: 'stage-interrupted'; key: string; attempt: number; detached: boolean }
    | { type: 'stage-retry'; key: string; attempt: number; delayMs: number; resumeFrom?: number }
    | { type: 'stage-blocked'; key: string; reason: string }
    | { type: 'stage-moved-aside'; key: string; from: string; to: string; reason: string }
    | { type: 'checkpoint-quarantined'; key: string; path: string; to: string; why: string }
    | { type: 'serve-starting'; key: string; attempt: number; port: number; url: string; servedName: string; fingerprint: string; gpus?: string }
    | { type: 'serve-started'; key: string; attempt: number; handle: JobHandleRecord }
    | { type: 'serve-ready'; key: string; attempt: number; url: string; afterMs: number }
    /** a server a killed CLI left running, found again and used instead of starting a second one */
    | { type: 'serve-reused'; key: string; attempt: number; url: string; handle: JobHandleRecord }
    | { type: 'serve-failed'; key: string; attempt: number; reason: ServeFailure; message: string; evidence: string[] }
    | { type: 'serve-stopped'; key: string; attempt: number; reason: string }
    | { type: 'lock-takeover'; previous: Record<string, unknown> }
    | { type: 'warning'; message: string; key?: string }
    | { type: 'run-finished'; ok: boolean; exitCode: number; durationMs: number; summary: string }
  );

interface HandleBase {
  id: string;
  name?: string;
}

/** A host process the local backend started. */
export interface LocalProcess {
  pid: number;
  /** process start time (clock ticks since boot) so a reused pid is never mistaken for ours */
  startTime?: number;
}

/**
 * How a backend finds its job again: a container or a Slurm job is named by its id; only a local
 * process needs its identity as well. (Run dirs of older versions kept pid/startTime flat: the
 * schema in src/state/schema.ts reads them into `process`.)
 */
export type JobHandleRecord = (HandleBase & { backend: 'docker' | 'slurm' }) | (HandleBase & { backend: 'local'; process: LocalProcess });

export type EventOf<T extends RunEvent['type']> = Extract<RunEvent, { type: T }>;

/** Progress is frequent; only transitions (and throttled progress) are persisted. */
export function isTransition(e: RunEvent): boolean {
  return e.type !== 'stage-progress';
}

export const now = (): string => new Date().toISOString();
