// Parallel stages: the shipped pipeline's shape over 3 rounds, each stage a sleep of known length,
// run by the real Scheduler with 1, 2 and 4 slots. Makespan against the lower bound max(critical
// path, work / slots), and against the one-slot (sequential) run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Backend, JobExit, JobSpec } from '../src/backends/backend.js';
import { containerView } from '../src/backends/trainer-view.js';
import { loadPipeline } from '../src/pipeline/load.js';
import type { Plan } from '../src/pipeline/plan-types.js';
import { buildPlan } from '../src/planner/plan.js';
import type { JobHandleRecord } from '../src/run/events.js';
import { Scheduler } from '../src/run/scheduler.js';
import { decideActions } from '../src/state/actions.js';
import { fingerprintPlan } from '../src/state/fingerprint.js';
import { emptyState } from '../src/state/state.js';
import { projectRoot } from '../src/util/project-root.js';
import { ok } from '../src/util/result.js';

export interface BenchRow {
  name: string;
  value: string;
  target: string;
  ok: boolean | null;
}

/** Stage lengths in units: the SFT is the longest, the reasoner DPO (the larger data set) longer than the proposer's. */
const UNITS: Record<string, number> = { proposer_sft: 4, proposer_dpo: 2, reasoner_dpo: 3 };

/** A backend whose jobs sleep for their stage's length, then leave complete outputs. */
class SleepBackend implements Backend {
  readonly name = 'docker' as const;
  constructor(readonly unitMs: number) {}
  async connect() {
    return ok(undefined);
  }
  async preflight() {
    return ok([]);
  }
  async start(job: JobSpec) {
    return ok<JobHandleRecord>({ backend: 'docker', id: `${job.stage.key}-${job.attempt}`, name: job.stage.key });
  }
  async findJob() {
    return undefined;
  }
  async follow(_h: JobHandleRecord, job: JobSpec): Promise<JobExit> {
    await new Promise((r) => setTimeout(r, (UNITS[job.stage.id] ?? 1) * this.unitMs));
    mkdirSync(dirname(job.logPath), { recursive: true });
    writeFileSync(job.logPath, '');
    mkdirSync(job.stage.outputDir, { recursive: true });
    for (const f of ['train_results.json', 'trainer_state.json', 'config.json', 'model.safetensors']) writeFileSync(join(job.stage.outputDir, f), '{}\n');
    return { kind: 'exited', exitCode: 0, oomKilled: false };
  }
  async stop() {}
  async release() {}
  async placeOf() {
    return { kind: 'at' as const, address: '127.0.0.1' };
  }
}

/** Longest path through the plan's dependencies, in units. */
function criticalPath(plan: Plan): number {
  const finish = new Map<string, number>();
  for (const s of plan.stages) finish.set(s.key, Math.max(0, ...s.dependsOn.map((d) => finish.get(d) ?? 0)) + (UNITS[s.id] ?? 1));
  return Math.max(...finish.values());
}

async function makespan(slots: number, unitMs: number): Promise<{ ms: number; plan: Plan }> {
  const dir = mkdtempSync(join(tmpdir(), 'flux-bench-parallel-'));
  try {
    const p = loadPipeline(join(projectRoot, 'pipelines', 'reasonflux-v2.yaml'));
    if (!p.ok) throw new Error(JSON.stringify(p.error));
    const r = buildPlan(p.value, { rounds: 3, runDir: join(dir, 'run'), backend: 'docker', view: containerView(), dataProblems: 'warning', gpus: 'none' });
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const plan = r.value.plan;
    const fps = fingerprintPlan(plan, { hashData: false });
    const state = emptyState();
    const t = performance.now();
    const result = await new Scheduler({
      plan,
      runId: 'bench',
      backend: new SleepBackend(unitMs),
      keySet: p.value.keySet,
      fingerprints: fps,
      actions: decideActions(plan, fps, state, new Map()),
      initial: state,
      emit: () => undefined,
      maxAttempts: 1,
      backoffSeconds: 0,
      graceSeconds: 1,
      interrupt: new AbortController().signal,
      detach: false,
      maxParallel: slots,
    }).run();
    if (result.exitCode !== 0) throw new Error(`bench run failed: ${JSON.stringify([...result.outcomes])}`);
    return { ms: performance.now() - t, plan };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function parallel(quick: boolean, rows: BenchRow[], results: Record<string, unknown>): Promise<void> {
  const unitMs = quick ? 100 : 300;
  const runs = new Map<number, number>();
  let plan: Plan | undefined;
  for (const slots of [1, 2, 4]) {
    const m = await makespan(slots, unitMs);
    runs.set(slots, m.ms);
    plan = m.plan;
  }
  const p = plan as Plan;
  const cp = criticalPath(p) * unitMs;
  const work = p.stages.reduce((a, s) => a + (UNITS[s.id] ?? 1), 0) * unitMs;
  const out: Record<string, unknown> = { unit_ms: unitMs, instances: p.stages.length, critical_path_ms: cp, work_ms: work };
  for (const [slots, ms] of runs) {
    const bound = Math.max(cp, work / slots);
    const ratio = ms / bound;
    const vsSequential = ms / (runs.get(1) as number);
    out[`slots_${slots}`] = { makespan_ms: Math.round(ms), lower_bound_ms: bound, ratio, vs_sequential: vsSequential };
    rows.push({
      name: `parallel stages: reasonflux-v2 shape, 3 rounds, ${slots} slot${slots > 1 ? 's' : ''}: makespan / max(critical path, work/slots)`,
      value: `${ratio.toFixed(3)} (${(ms / 1000).toFixed(2)} s / ${(bound / 1000).toFixed(2)} s; ${vsSequential.toFixed(2)} x sequential)`,
      target: slots === 2 ? '<= 1.05' : 'informational',
      ok: slots === 2 ? ratio <= 1.05 : null,
    });
  }
  results['parallel'] = out;
}
