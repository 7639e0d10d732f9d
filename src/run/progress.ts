import { join } from 'node:path';
import { checkpointProblem, checkpointSteps, listCheckpoints } from '../llamafactory/outputs.js';
import { TrainerLogTail } from '../llamafactory/trainer-log.js';
import type { PlanStage } from '../pipeline/plan-types.js';
import { crashPoint } from '../util/crash-point.js';
import { now, type RunEvent } from './events.js';

/**
 * The progress of one attempt while its job runs: new lines of trainer_log.jsonl and new complete
 * checkpoints become events. It keeps the last step, total and loss for the verdict.
 */
export class AttemptProgress {
  lastStep: number | undefined;
  finalLoss: number | undefined;
  total: number | undefined;
  readonly #tail: TrainerLogTail;
  readonly #earlier: ReturnType<TrainerLogTail['poll']>;
  #seen = new Set<number>();
  #replay: ReturnType<TrainerLogTail['poll']> = [];

  /** Made before the job starts: the log lines already there belong to earlier attempts. */
  constructor(
    readonly stage: PlanStage,
    readonly emit: (e: RunEvent) => void,
  ) {
    // trainer_log.jsonl keeps the lines of earlier attempts (LLaMA-Factory appends on resume): progress
    // starts after them, so a resume from checkpoint-100 never shows "step 5/300" first
    this.#tail = new TrainerLogTail(join(stage.outputDir, 'trainer_log.jsonl'));
    this.#earlier = this.#tail.poll();
  }

  /**
   * Called once the job runs. `reattached`: the job ran unwatched, so where it stands now is news
   * (its newest line, and its newest checkpoint unless the state already knows it as `knownCheckpoint`).
   */
  begin(reattached: boolean, knownCheckpoint: number | undefined): void {
    const s = this.stage;
    // checkpoints already there are old news; a new one counts once it is complete
    this.#seen = new Set(checkpointSteps(s.outputDir));
    this.#replay = reattached ? this.#earlier.slice(-1) : [];
    if (reattached && s.kind === 'train') {
      const newest = listCheckpoints(s.outputDir).find((c) => c.valid)?.step;
      if (newest !== undefined && newest !== knownCheckpoint) this.emit({ type: 'stage-checkpoint', ts: now(), key: s.key, step: newest });
    }
  }

  poll(): void {
    const s = this.stage;
    const records = [...this.#replay, ...this.#tail.poll()];
    this.#replay = [];
    for (const r of records) {
      this.lastStep = r.current_steps;
      this.total = r.total_steps;
      if (r.loss !== undefined) this.finalLoss = r.loss;
      this.emit({
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
    if (s.kind !== 'train') return;
    for (const step of checkpointSteps(s.outputDir)) {
      if (this.#seen.has(step) || checkpointProblem(join(s.outputDir, `checkpoint-${step}`), step) !== undefined) continue;
      this.#seen.add(step);
      this.emit({ type: 'stage-checkpoint', ts: now(), key: s.key, step });
      crashPoint('checkpoint-seen');
    }
  }
}
