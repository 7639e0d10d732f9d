import type { Diagnostic, PathSegment } from '../pipeline/diagnostics.js';
import type { CommandInstance, ModelInput, PlanDataset, ServeInstance, TrainInstance } from '../pipeline/plan-types.js';
import type { BackendName, CommandStage, GpuSpec, PipelineSpec, StageSpec, TrainStage } from '../pipeline/schema.js';
import type { StageCatalog } from './catalog.js';
import { planDataset, type DatasetScope, type DatasetTable } from './datasets.js';
import { outputDirOf, stageKey } from './keys.js';
import { RunDir } from '../util/run-layout.js';
import { resolveModel, type ModelScope } from './models.js';
import { launcherEnv, mergeArgs, type DeepspeedFiles } from './trainer-args.js';
import { expandPlaceholders, resolveEndpoints } from './endpoints.js';

/** Everything planning one stage instance reads; the dataset table, the DeepSpeed cache and the view's mounts are the only parts it adds to. */
export interface InstanceScope extends ModelScope, DatasetScope {
  spec: PipelineSpec;
  backend: BackendName;
  /** serve instances planned so far, by key: a consumer comes after its servers in a round */
  serves: Map<string, ServeInstance>;
  catalog: StageCatalog;
  image: string;
  gpus: GpuSpec | undefined;
  table: DatasetTable;
  deepspeedFiles: DeepspeedFiles;
}

export interface Common {
  key: string;
  at: PathSegment[];
  outputDir: string;
  trainerOutputDir: string;
  deps: Set<string>;
  gpus: GpuSpec;
}

export function common(scope: InstanceScope, s: StageSpec, index: number, round: number): Common {
  const deps = new Set<string>();
  for (const a of s.after) if (scope.catalog.runsIn(a, round)) deps.add(stageKey(round, a));
  const outputDir = outputDirOf(scope.runDir, round, s.id);
  return { key: stageKey(round, s.id), at: ['stages', index], outputDir, trainerOutputDir: scope.view.runPath(outputDir), deps, gpus: stageGpus(scope, s) };
}

/** What an instance asks of the GPU pool: its own `gpus`, else the whole pool; `--gpus none` leaves every stage without GPUs. */
function stageGpus(scope: InstanceScope, s: StageSpec): GpuSpec {
  const pool = scope.gpus ?? scope.spec.gpus;
  return pool === 'none' ? 'none' : (s.gpus ?? pool);
}

/** A model as the trainer sees it: a stage output inside the run dir, a local base model as an input, or a hub id. */
export function trainerModelPath(scope: InstanceScope, m: ModelInput): string {
  if (m.kind === 'stage') return scope.view.runPath(m.hostPath);
  return m.local ? scope.view.inputPath(m.ref, 'models', `base model ${m.name}`) : m.ref;
}

/** One round of a train stage: its model, datasets, complete LLaMA-Factory arguments and environment. */
export function planTrainInstance(scope: InstanceScope, s: TrainStage, index: number, round: number): { stage?: TrainInstance; diags: Diagnostic[] } {
  const c = common(scope, s, index, round);
  const diags: Diagnostic[] = [];
  const model = resolveModel(scope, s.model, round, s.id, [...c.at, 'model']);
  const refModel = s.ref_model ? resolveModel(scope, s.ref_model, round, s.id, [...c.at, 'ref_model']) : { diags: [] };
  diags.push(...model.diags, ...refModel.diags);
  if (model.model?.kind === 'stage') c.deps.add(model.model.key);
  if (refModel.model?.kind === 'stage') c.deps.add(refModel.model.key);
  const datasets: PlanDataset[] = [];
  s.datasets.forEach((dn, j) => {
    const pd = planDataset(scope, scope.table, dn, round, s, [...c.at, 'datasets', j]);
    diags.push(...pd.diags);
    if (pd.dataset) {
      datasets.push(pd.dataset);
      if (pd.dataset.producedBy) c.deps.add(pd.dataset.producedBy);
    }
  });
  const { merged, deepspeed, diags: argDiags } = mergeArgs(s, scope.spec.defaults, c.at, { loc: scope.loc, runDir: scope.runDir, runPath: scope.view.runPath, deepspeedFiles: scope.deepspeedFiles });
  diags.push(...argDiags);
  // no model: its reference failed and is already an error, so this plan is never returned
  if (!model.model) return { diags };
  const trainerModel = trainerModelPath(scope, model.model);
  const args: Record<string, unknown> = {
    stage: s.stage,
    do_train: true,
    model_name_or_path: trainerModel,
    ...(refModel.model ? { ref_model: trainerModelPath(scope, refModel.model) } : {}),
    dataset_dir: scope.view.runDir,
    dataset: datasets.map((d) => d.name).join(','),
    ...merged,
    output_dir: c.trainerOutputDir,
  };
  const configPath = new RunDir(scope.runDir).configFile(c.key);
  const trainerConfigPath = scope.view.runPath(configPath);
  const stage: TrainInstance = {
    key: c.key,
    id: s.id,
    round,
    kind: 'train',
    stage: s.stage,
    dependsOn: [...c.deps],
    model: model.model,
    trainerModel,
    ...(refModel.model ? { refModel: refModel.model } : {}),
    datasets,
    outputDir: c.outputDir,
    trainerOutputDir: c.trainerOutputDir,
    configPath,
    trainerConfigPath,
    args,
    gpus: c.gpus,
    image: s.image ?? scope.image,
    env: { ...s.env, ...launcherEnv(c.gpus, deepspeed !== undefined, scope.spec.allow_extra_args), ...scope.view.env },
    passEnv: scope.spec.docker.pass_env,
    command: ['llamafactory-cli', 'train', trainerConfigPath],
    workdir: scope.view.runDir,
    ...(deepspeed ? { deepspeed } : {}),
  };
  return { stage, diags };
}

/** One round of a command stage: its inputs as FLUX_MODEL_<NAME>, where to write, and the files it must leave. */
export function planCommandInstance(scope: InstanceScope, s: CommandStage, index: number, round: number): { stage: CommandInstance; diags: Diagnostic[] } {
  const c = common(scope, s, index, round);
  const diags: Diagnostic[] = [];
  const env: Record<string, string> = { ...s.env };
  for (const [name, src] of Object.entries(s.inputs)) {
    const m = resolveModel(scope, src, round, s.id, [...c.at, 'inputs', name]);
    diags.push(...m.diags);
    if (!m.model) continue;
    if (m.model.kind === 'stage') c.deps.add(m.model.key);
    env[`FLUX_MODEL_${name.toUpperCase()}`] = trainerModelPath(scope, m.model);
  }
  const endpoints = resolveEndpoints(scope, s, round, c.at);
  diags.push(...endpoints.diags);
  for (const e of endpoints.uses) {
    const serve = scope.serves.get(e.serve) as ServeInstance;
    // the server starts when its consumer does: what it waits for (its model, its `after:`) the consumer waits for
    for (const d of serve.dependsOn) c.deps.add(d);
    env[`FLUX_MODEL_${e.name.toUpperCase()}`] = serve.servedName;
    // two endpoint names may name one server: it has this consumer once
    if (!serve.consumers.includes(c.key)) serve.consumers.push(c.key);
  }
  const command = expandPlaceholders(scope, s.command, [...c.at, 'command']);
  diags.push(...command.diags);
  env['FLUX_ROUND'] = String(round);
  env['FLUX_OUTPUT_DIR'] = c.trainerOutputDir;
  env['FLUX_RUN_DIR'] = scope.view.runDir;
  const stage: CommandInstance = {
    key: c.key,
    id: s.id,
    round,
    kind: 'command',
    stage: 'command',
    dependsOn: [...c.deps],
    outputDir: c.outputDir,
    trainerOutputDir: c.trainerOutputDir,
    // a client of servers needs no GPU of its own unless it says so: the whole pool would starve its servers
    gpus: s.gpus === undefined && endpoints.uses.length > 0 ? 'none' : c.gpus,
    image: s.image ?? scope.image,
    env: { ...env, ...scope.view.env },
    passEnv: scope.spec.docker.pass_env,
    command: command.command,
    workdir: s.workdir ?? scope.view.runDir,
    expectedOutputs: s.outputs,
    endpoints: endpoints.uses,
  };
  return { stage, diags };
}
