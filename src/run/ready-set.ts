import type { GpuSpec } from '../pipeline/schema.js';
import { EXIT } from '../util/errors.js';
import type { StageOutcome } from './events.js';
import type { GpuPool } from './gpu-pool.js';

export interface ReadyStage {
  key: string;
  dependsOn: string[];
  gpus: GpuSpec;
}

/** What the executor asks of the scheduler; every event is emitted by these, one at a time. */
export interface ReadyHooks<S extends ReadyStage> {
  /** the outcome of an instance decided without running it (skip, blocked), its event emitted; undefined when it must run */
  settle(s: S): StageOutcome | undefined;
  /** a job that already runs (re-attach), with the GPUs it holds: followed first, whatever its inputs or the limits; undefined for the others */
  reattach(s: S): { gpus: GpuSpec } | undefined;
  /** whether an instance's outputs are finished and verified, so that they may feed another */
  verified(key: string): boolean;
  block(s: S, reason: string): void;
  /** runs an instance to its end; `gpus` is what the pool gave it (undefined: its own spec) */
  launch(s: S, gpus: GpuSpec | undefined): Promise<StageOutcome>;
  onRunning?(keys: string[]): void;
}

export interface ReadyLimits {
  /** instances running at once, besides the GPU pool */
  maxParallel: number;
  /** after a failure, still start the instances that do not depend on it */
  keepGoing: boolean;
  pool: GpuPool;
  /** Ctrl-C: start nothing more; the running instances stop (or are left) on their own */
  interrupt: AbortSignal;
}

export interface ReadyResult {
  exitCode: number;
  outcomes: Map<string, StageOutcome>;
}

/**
 * Runs a plan's instances as their inputs become verified: every ready instance starts while the
 * limits allow, in plan order. A failure blocks its dependents and, without keep-going, every
 * instance not started yet; running instances are never stopped because a sibling failed.
 */
export async function runReady<S extends ReadyStage>(stages: S[], hooks: ReadyHooks<S>, limits: ReadyLimits): Promise<ReadyResult> {
  const inPlan = new Set(stages.map((s) => s.key));
  const outcomes = new Map<string, StageOutcome>();
  const running = new Map<string, Promise<{ key: string; outcome: StageOutcome }>>();
  const failed: string[] = [];
  let halted = false;
  let exitCode: number = EXIT.ok;
  const record = (key: string, o: StageOutcome) => {
    outcomes.set(key, o);
    if (o === 'failed') failed.push(key);
    if (o === 'failed' || o === 'blocked') exitCode = EXIT.stageFailed;
    if (o === 'interrupted' || o === 'detached') halted = true;
  };
  const launch = (s: S, gpus: GpuSpec | undefined) => running.set(s.key, hooks.launch(s, gpus).then((outcome) => ({ key: s.key, outcome })));

  /** true when the instance left the pending list: started, or settled without running */
  const tryStart = (s: S): boolean => {
    const settled = hooks.settle(s);
    if (settled !== undefined) return record(s.key, settled), true;
    const held = hooks.reattach(s);
    if (held !== undefined) {
      const g = limits.pool.request(s.key, held.gpus);
      return launch(s, g.kind === 'granted' ? g.gpus : undefined), true;
    }
    if (s.dependsOn.some((d) => inPlan.has(d) && !outcomes.has(d))) return false;
    const missing = s.dependsOn.filter((d) => !hooks.verified(d));
    if (missing.length > 0) return block(s, `input ${missing.join(', ')} is not finished and verified`);
    if (failed.length > 0 && !limits.keepGoing) return block(s, `not started: ${failed.join(', ')} failed; pass --keep-going to run the stages that do not depend on it`);
    if (running.size >= limits.maxParallel) return false;
    const g = limits.pool.request(s.key, s.gpus);
    if (g.kind === 'never') return block(s, `cannot run: ${g.why}`);
    if (g.kind === 'wait') return false;
    return launch(s, g.gpus), true;
  };
  const block = (s: S, reason: string): true => {
    hooks.block(s, reason);
    record(s.key, 'blocked');
    return true;
  };

  // re-attached jobs hold their GPUs before anything new asks for some
  let pending = [...stages.filter((s) => hooks.reattach(s) !== undefined), ...stages.filter((s) => hooks.reattach(s) === undefined)];
  for (;;) {
    if (limits.interrupt.aborted) halted = true;
    if (!halted) pending = pending.filter((s) => !tryStart(s));
    hooks.onRunning?.([...running.keys()]);
    if (running.size === 0) break;
    const { key, outcome } = await Promise.race(running.values());
    running.delete(key);
    limits.pool.release(key);
    record(key, outcome);
  }
  if (halted || limits.interrupt.aborted) exitCode = EXIT.interrupted;
  return { exitCode, outcomes };
}
