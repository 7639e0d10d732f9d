import { resolve } from 'node:path';
import type { Diagnostic } from '../pipeline/diagnostics.js';
import type { Pipeline } from '../pipeline/load.js';
import type { Plan, PlanStage, ServeInstance } from '../pipeline/plan-types.js';
import type { BackendName, GpuSpec } from '../pipeline/schema.js';
import { err, ok, type Result } from '../util/result.js';
import { catalogStages, stagesWithoutRounds } from './catalog.js';
import { DatasetTable } from './datasets.js';
import { sameRoundOrder } from './graph.js';
import { planCommandInstance, planTrainInstance, type InstanceScope } from './instances.js';
import { planServeInstance, serveGpuProblems } from './serves.js';
import { DeepspeedFiles } from './trainer-args.js';
import type { TrainerViewFactory } from './trainer-view.js';

export interface PlanOptions {
  rounds: number;
  runDir: string;
  backend: BackendName;
  /** how the trainer sees paths: supplied by the backend (src/backends/trainer-view.ts) or by `config` */
  view: TrainerViewFactory;
  gpus?: GpuSpec;
  image?: string;
  /** dataset file problems are errors (validate, round) or warnings (config, dry-run) */
  dataProblems: 'error' | 'warning';
}

export interface PlanResult {
  plan: Plan;
  warnings: Diagnostic[];
}

/**
 * Turns a loaded pipeline into a plan, in steps that each return their values and diagnostics:
 * the stages and their rounds, the order inside a round, then every stage instance round by round.
 * All problems are reported at once; any error means no plan.
 */
export function buildPlan(p: Pipeline, opts: PlanOptions): Result<PlanResult, Diagnostic[]> {
  const { spec, locator: loc } = p;
  const runDir = resolve(opts.runDir);
  const { catalog, diags } = catalogStages(spec.stages, opts.rounds, loc);
  const graph = sameRoundOrder(catalog, spec.datasets, loc);
  diags.push(...graph.diags);
  if (!graph.order.ok) return err([...diags, graph.order.error]);
  const view = opts.view(runDir, p);
  const image = opts.image ?? spec.llamafactory.image;
  const scope: InstanceScope = {
    spec,
    backend: opts.backend,
    serves: new Map(),
    models: spec.models,
    datasets: spec.datasets,
    baseDir: p.baseDir,
    runDir,
    catalog,
    loc,
    view,
    image,
    gpus: opts.gpus,
    dataProblems: opts.dataProblems,
    table: new DatasetTable(),
    deepspeedFiles: new DeepspeedFiles(p.baseDir),
  };
  const stages: PlanStage[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const id of graph.order.value) {
      const entry = catalog.byId.get(id);
      if (!entry || !entry.rounds.includes(round)) continue;
      const s = entry.spec;
      if (s.kind === 'serve') {
        const planned = planServeInstance(scope, s, entry.index, round);
        diags.push(...planned.diags);
        if (planned.serve) scope.serves.set(planned.serve.key, planned.serve);
        continue;
      }
      const planned = s.kind === 'train' ? planTrainInstance(scope, s, entry.index, round) : planCommandInstance(scope, s, entry.index, round);
      diags.push(...planned.diags);
      if (planned.stage) stages.push(planned.stage);
    }
  }
  diags.push(...stagesWithoutRounds(catalog, opts.rounds, loc));
  diags.push(...serveGpuProblems(stages, scope.serves, opts.gpus ?? spec.gpus, catalog, loc));
  if (diags.some((d) => d.severity === 'error')) return err(uniqueDiagnostics(diags));
  const plan: Plan = {
    pipeline: p.file,
    pipelineName: spec.name,
    runDir,
    rounds: opts.rounds,
    backend: opts.backend,
    image,
    llamafactoryVersion: spec.llamafactory.version,
    trainerRunDir: view.runDir,
    mounts: view.mounts(),
    stages,
    serves: unusedServes(scope.serves, diags, p),
    datasetInfo: scope.table.info,
    allowExtraArgs: spec.allow_extra_args,
    gpuPool: opts.gpus ?? spec.gpus,
    ...(spec.max_parallel !== undefined ? { maxParallel: spec.max_parallel } : {}),
  };
  return ok({ plan, warnings: diags });
}

/** Every server some stage consumes; one no command stage names in `endpoints` would never start, which is worth a warning. */
function unusedServes(serves: Map<string, ServeInstance>, diags: Diagnostic[], p: Pipeline): ServeInstance[] {
  const out = [...serves.values()];
  for (const s of out) {
    if (s.consumers.length > 0) continue;
    const index = p.spec.stages.findIndex((x) => x.id === s.id);
    diags.push(p.locator.diag('serve', ['stages', index, 'id'], `server ${s.key} is named by no command stage's \`endpoints\` in round ${s.round}, so it never starts`, 'name it in a command stage (`endpoints: {proposer: ' + s.id + '}`), or limit its `rounds:`', { severity: 'warning' }));
  }
  return out;
}

/** A problem of a stage repeats in every round it runs in: once is enough. */
function uniqueDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diags.filter((d) => {
    const id = JSON.stringify([d.path, d.message, d.severity]);
    return seen.has(id) ? false : (seen.add(id), true);
  });
}
