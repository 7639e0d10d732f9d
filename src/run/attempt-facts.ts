import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { missingFinishedFiles } from '../llamafactory/outputs.js';
import type { PlanStage } from '../pipeline/plan-types.js';
import type { RunState } from '../state/state.js';
import type { Cause } from './causes.js';

/** How a failed attempt ended, as the retry policy and the stage-failed event need it. */
export interface FailedAttempt {
  kind: 'failed';
  cause: Cause;
  step: number | undefined;
  exitCode: number | null;
  oomKilled: boolean;
}

/** GPU OOM: once may be a fragmentation fluke; at the same step twice it is the config. Host OOM twice is the config too. */
export function isTransient(cause: Cause, step: number | undefined, previous: { cause: Cause; step: number | undefined } | undefined): boolean {
  if (cause.code === 'gpu-oom') return !(previous?.cause.code === 'gpu-oom' && previous.step === step);
  if (cause.code === 'host-oom' && previous?.cause.code === 'host-oom') return false;
  return cause.class === 'transient';
}

/** When an attempt really started: a re-attached one started in an earlier session. */
export function attemptStart(state: RunState, key: string, attempt: number, fallback: number): number {
  const at = Date.parse(state.stages[key]?.attempts.find((a) => a.n === attempt)?.startedAt ?? '');
  return Number.isFinite(at) && at < fallback ? at : fallback;
}

/** The files a clean exit must have left: a trainer's final files, or a command stage's declared outputs. */
export function missingOutputs(s: PlanStage): string[] {
  if (s.kind === 'train') return missingFinishedFiles(s.outputDir);
  return s.expectedOutputs.filter((f) => !existsSync(join(s.outputDir, f)));
}
