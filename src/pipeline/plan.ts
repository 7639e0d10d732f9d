import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, posix, relative, resolve } from 'node:path';
import { formatPath, type Diagnostic, type PathSegment } from './diagnostics.js';
import { checkRecord, firstDataFile, missingDataHint, readFirstRecord, type MissingContext } from './dataset-check.js';
import { resolveDeepspeed, type DeepspeedProblem } from './deepspeed.js';
import type { Pipeline } from './load.js';
import type { Mount, ModelInput, Plan, PlanDataset, PlanStage, TrainInstance } from './plan-types.js';
import type { BackendName, DatasetSourceOne, GpuSpec, ModelSource, RoundsSpec, StageSpec, TrainStage } from './schema.js';
import { datasetInfoEntry } from '../llamafactory/dataset-info.js';
import { suggestFrom } from '../llamafactory/keys.js';
import { hasOwn, own } from '../util/own.js';
import { err, ok, type Result } from '../util/result.js';

export { DEEPSPEED_PRESETS } from './deepspeed.js';

export const CONTAINER_RUN_DIR = '/flux/run';
export const CONTAINER_HF_HOME = '/flux/hf-cache';
export const MASTER_PORT = 29500;

/** Values flux-train adds beyond the seed recipe; visible in the plan, overridable in `defaults`/`args`. */
export const SAFETY_DEFAULTS: Record<string, unknown> = {
  // true would switch off LLaMA-Factory's auto-resume and delete trainer_log.jsonl
  overwrite_output_dir: false,
  // 32B checkpoints with optimizer state are ~400 GB each; keep two good ones and the newest
  save_total_limit: 3,
};


/** How the trainer sees paths: inside a container, on this host, or from a hand-run config folder. */
export type PathView = 'container' | 'host' | 'manual';

export interface PlanOptions {
  rounds: number;
  runDir: string;
  backend: BackendName;
  view: PathView;
  gpus?: GpuSpec;
  image?: string;
  /** dataset file problems are errors (validate, round) or warnings (config, dry-run) */
  dataProblems: 'error' | 'warning';
  /** host folder of the Hugging Face cache mounted into containers */
  hfCache?: string;
}

export interface PlanResult {
  plan: Plan;
  warnings: Diagnostic[];
}

export function roundsOf(spec: RoundsSpec, n: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i + 1);
  if (spec === 'all') return all;
  if (Array.isArray(spec)) return all.filter((r) => spec.includes(r));
  return all.filter((r) => r >= spec.from && (spec.to === undefined || r <= spec.to));
}

export const stageKey = (round: number, id: string): string => `r${round}/${id}`;
export const stageFileName = (key: string): string => key.replace('/', '-');

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

export function buildPlan(p: Pipeline, opts: PlanOptions): Result<PlanResult, Diagnostic[]> {
  const diags: Diagnostic[] = [];
  const { spec, locator: loc } = p;
  const runDir = resolve(opts.runDir);
  const image = opts.image ?? spec.llamafactory.image;
  const trainerRunDir = opts.view === 'container' ? CONTAINER_RUN_DIR : opts.view === 'host' ? runDir : '.';
  const mounts: Mount[] = [];
  if (opts.view === 'container') {
    mounts.push({ host: runDir, container: CONTAINER_RUN_DIR, mode: 'rw', what: 'run dir (configs, outputs, logs)' });
    const hf = opts.hfCache ?? spec.docker.hf_cache ?? join(homedir(), '.cache', 'huggingface');
    mounts.push({ host: resolve(p.baseDir, hf), container: CONTAINER_HF_HOME, mode: 'rw', what: 'Hugging Face cache shared by all stages' });
  }
  const addMount = (host: string, kind: 'datasets' | 'models', what: string): string => {
    const existing = mounts.find((m) => m.host === host);
    if (existing) return existing.container;
    const container = `/flux/${kind}/${shortHash(host)}/${basename(host)}`;
    mounts.push({ host, container, mode: 'ro', what });
    return container;
  };
  const runPath = (hostPath: string): string => {
    const rel = relative(runDir, hostPath).split('\\').join('/');
    return trainerRunDir === '.' ? rel : posix.join(trainerRunDir, rel);
  };

  // -- ids and rounds
  const byId = new Map<string, { spec: StageSpec; index: number; rounds: number[] }>();
  spec.stages.forEach((s, i) => {
    if (byId.has(s.id)) {
      diags.push(loc.diag('duplicate-id', ['stages', i, 'id'], `stage id "${s.id}" is used twice`, 'give every stage a unique id'));
    } else byId.set(s.id, { spec: s, index: i, rounds: roundsOf(s.rounds, opts.rounds) });
  });
  const runsIn = (id: string, round: number): boolean => byId.get(id)?.rounds.includes(round) ?? false;

  // -- model sources
  const resolveBase = (name: string, at: PathSegment[]): ModelInput | undefined => {
    const ref = own(spec.models, name);
    if (ref === undefined) {
      const guess = suggestFrom(Object.keys(spec.models), name);
      diags.push(loc.diag('reference', [...at, 'base'], `unknown base model "${name}"`, guess ? `did you mean "${guess}"? (declared under \`models:\`)` : `declare it under \`models:\` (declared: ${Object.keys(spec.models).join(', ')})`));
      return undefined;
    }
    const looksLocal = ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || existsSync(resolve(p.baseDir, ref));
    return looksLocal ? { kind: 'base', name, ref: resolve(p.baseDir, ref), local: true } : { kind: 'base', name, ref, local: false };
  };

  const resolveSource = (
    src: ModelSource | { base: string } | { stage: string; round: 'same' | 'previous' },
    round: number,
    owner: string,
    at: PathSegment[],
  ): ModelInput | undefined => {
    if ('base' in src) return resolveBase(src.base, at);
    const target = byId.get(src.stage);
    if (!target) {
      const guess = suggestFrom([...byId.keys()], src.stage);
      diags.push(loc.diag('reference', [...at, 'stage'], `stage "${owner}" takes its model from unknown stage "${src.stage}"`, guess ? `did you mean "${guess}"?` : `use one of: ${[...byId.keys()].join(', ')}`));
      return undefined;
    }
    if (target.spec.kind !== 'train') {
      diags.push(loc.diag('reference', [...at, 'stage'], `"${src.stage}" is a command stage; its output is not a model`, 'take the model from a train stage, or a base model'));
      return undefined;
    }
    const targetRound = src.round === 'previous' ? round - 1 : round;
    if (targetRound >= 1 && runsIn(src.stage, targetRound)) {
      const key = stageKey(targetRound, src.stage);
      return { kind: 'stage', key, hostPath: join(runDir, 'outputs', `r${targetRound}`, src.stage) };
    }
    if ('fallback' in src && src.fallback) return resolveSource(src.fallback, round, owner, [...at, 'fallback']);
    const when = src.round === 'previous' ? `the previous round (${targetRound})` : `round ${round}`;
    diags.push(
      loc.diag(
        'reference',
        [...at, 'stage'],
        `stage "${owner}" in round ${round} takes its model from "${src.stage}" in ${when}, but "${src.stage}" does not run there`,
        src.round === 'previous'
          ? 'add `fallback: {stage: ...}` or `fallback: {base: ...}` for the first round, or change the rounds of either stage'
          : `make "${src.stage}" run in round ${round} (its \`rounds:\`), or take the model from the previous round`,
      ),
    );
    return undefined;
  };

  // -- dataset sources per round
  const datasetNames = new Map<string, string>(); // hostPath -> dataset_info name
  const datasetInfo: Record<string, Record<string, unknown>> = {};
  const checkedFiles = new Map<string, boolean>();
  const resolveDatasetSource = (name: string, round: number): { src: DatasetSourceOne; at: PathSegment[] } | undefined => {
    const d = own(spec.datasets, name);
    if (!d) return undefined;
    if (d.source) {
      const exact = own(d.source, String(round));
      if (exact !== undefined) return { src: exact, at: ['datasets', name, 'source', String(round)] };
      const dflt = own(d.source, 'default');
      if (dflt !== undefined) return { src: dflt, at: ['datasets', name, 'source', 'default'] };
    }
    if (d.path !== undefined) return { src: d.path, at: ['datasets', name, 'path'] };
    return undefined;
  };

  const planDataset = (name: string, round: number, owner: TrainStage, at: PathSegment[]): PlanDataset | undefined => {
    const d = own(spec.datasets, name);
    if (!d) {
      const guess = suggestFrom(Object.keys(spec.datasets), name);
      diags.push(loc.diag('reference', at, `unknown dataset "${name}"`, guess ? `did you mean "${guess}"?` : `declare it under \`datasets:\` (declared: ${Object.keys(spec.datasets).join(', ') || 'none'})`));
      return undefined;
    }
    const needsRanking = owner.stage === 'dpo' || owner.stage === 'rm';
    if (needsRanking !== d.ranking) {
      diags.push(
        loc.diag(
          'dataset-stage',
          at,
          needsRanking
            ? `stage "${owner.id}" is ${owner.stage}, which needs preference data, but dataset "${name}" is not declared \`ranking: true\` (LLaMA-Factory: "The dataset is not applicable in the current training stage.")`
            : `stage "${owner.id}" is ${owner.stage}, but dataset "${name}" is preference data (\`ranking: true\`) (LLaMA-Factory: "The dataset is not applicable in the current training stage.")`,
          needsRanking ? `use a preference dataset with chosen/rejected and \`ranking: true\`` : 'use a non-ranking dataset for this stage, or change the stage to dpo',
        ),
      );
    }
    const found = resolveDatasetSource(name, round);
    if (!found) {
      diags.push(loc.diag('dataset-source', ['datasets', name], `dataset "${name}" has no file for round ${round}`, 'give it a `path:` or a `source:` with this round or `default:`'));
      return undefined;
    }
    const { src, at: srcAt } = found;
    let hostPath: string;
    let producedBy: string | undefined;
    if (typeof src === 'string' || 'path' in src) {
      const raw = (typeof src === 'string' ? src : src.path).replaceAll('{round}', String(round));
      hostPath = resolve(p.baseDir, raw);
      if (!checkedFiles.has(hostPath)) {
        checkedFiles.set(hostPath, true);
        const declaredFor = srcAt[2] === 'source' ? String(srcAt[3]) : 'path';
        const problems = checkDatasetFile(hostPath, d, { round, declaredFor, ...(d.hf_hub_id !== undefined ? { hfHubId: d.hf_hub_id } : {}) });
        for (const pr of problems) {
          diags.push(loc.diag(pr.code, srcAt, pr.message, pr.hint, { severity: pr.code === 'missing-file' || pr.code === 'dataset-format' || pr.code === 'unreadable' ? opts.dataProblems : 'error' }));
        }
      }
    } else {
      const producer = byId.get(src.stage);
      const prodRound = src.round === 'previous' ? round - 1 : round;
      if (!producer) {
        const guess = suggestFrom([...byId.keys()], src.stage);
        diags.push(loc.diag('reference', [...srcAt, 'stage'], `dataset "${name}" comes from unknown stage "${src.stage}"`, guess ? `did you mean "${guess}"?` : 'name a command stage'));
        return undefined;
      }
      if (producer.spec.kind !== 'command') {
        diags.push(loc.diag('reference', [...srcAt, 'stage'], `dataset "${name}" comes from "${src.stage}", which is not a command stage`, 'datasets can be written by command stages only'));
        return undefined;
      }
      if (prodRound < 1 || !runsIn(src.stage, prodRound)) {
        diags.push(
          loc.diag('reference', [...srcAt, 'stage'], `dataset "${name}" for round ${round} comes from "${src.stage}" in round ${prodRound}, which does not run there`, `give round ${round} its own file (\`source: {${round}: path}\`) or make "${src.stage}" run in round ${prodRound}`),
        );
        return undefined;
      }
      if (!producer.spec.outputs.includes(src.file)) {
        diags.push(loc.diag('reference', [...srcAt, 'file'], `"${src.stage}" does not declare "${src.file}" in its \`outputs:\``, `add "${src.file}" to the outputs of "${src.stage}" so it is checked before use`));
      }
      producedBy = stageKey(prodRound, src.stage);
      hostPath = join(runDir, 'outputs', `r${prodRound}`, src.stage, src.file);
    }
    let infoName = datasetNames.get(hostPath);
    if (infoName === undefined) {
      const taken = new Set(Object.keys(datasetInfo));
      infoName = taken.has(name) ? `${name}_r${round}` : name;
      datasetNames.set(hostPath, infoName);
    }
    const trainerPath =
      producedBy !== undefined ? runPath(hostPath) : opts.view === 'container' ? addMount(hostPath, 'datasets', `dataset ${name}`) : hostPath;
    const info = datasetInfoEntry(d, trainerPath);
    datasetInfo[infoName] = info;
    return { name: infoName, declared: name, hostPath, trainerPath, info, ...(producedBy ? { producedBy } : {}) };
  };

  // -- same-round dependency graph (for cycles and order)
  const sameRoundDeps = new Map<string, Set<string>>();
  for (const [id, { spec: s }] of byId) {
    const deps = new Set<string>(s.after);
    const addSrc = (src: ModelSource | undefined) => {
      if (src && 'stage' in src && src.round === 'same') deps.add(src.stage);
      if (src && 'stage' in src && src.fallback && 'stage' in src.fallback && src.fallback.round === 'same') deps.add(src.fallback.stage);
    };
    if (s.kind === 'train') {
      addSrc(s.model);
      addSrc(s.ref_model);
      for (const dn of s.datasets) {
        const d = own(spec.datasets, dn);
        for (const src of Object.values(d?.source ?? {})) if (typeof src === 'object' && 'stage' in src && src.round === 'same') deps.add(src.stage);
      }
    } else for (const src of Object.values(s.inputs)) addSrc(src);
    s.after.forEach((a, j) => {
      if (!byId.has(a)) {
        const guess = suggestFrom([...byId.keys()], a);
        diags.push(loc.diag('reference', ['stages', byId.get(id)?.index ?? 0, 'after', j], `unknown stage "${a}" in after`, guess ? `did you mean "${guess}"?` : 'name a stage id'));
      }
    });
    sameRoundDeps.set(id, deps);
  }
  const order = topoOrder(sameRoundDeps);
  if (!order.ok) {
    const cycle = order.error;
    const first = byId.get(cycle[0] as string);
    diags.push(loc.diag('cycle', ['stages', first?.index ?? 0, 'id'], `stages depend on each other in a cycle: ${cycle.join(' -> ')}`, 'break the cycle: one of them must take its input from the previous round (`round: previous`)'));
    return err(diags);
  }

  // -- instances
  const stages: PlanStage[] = [];
  const deepspeedFiles = new Map<string, Result<string, DeepspeedProblem>>();
  const deepspeedReported = new Set<string>();
  for (let round = 1; round <= opts.rounds; round++) {
    for (const id of order.value) {
      const entry = byId.get(id);
      if (!entry || !entry.rounds.includes(round)) continue;
      const s = entry.spec;
      const at: PathSegment[] = ['stages', entry.index];
      const key = stageKey(round, id);
      const outputDir = join(runDir, 'outputs', `r${round}`, id);
      const configPath = join(runDir, 'configs', `${stageFileName(key)}.yaml`);
      const deps = new Set<string>();
      for (const a of s.after) if (runsIn(a, round)) deps.add(stageKey(round, a));
      const gpus = opts.gpus ?? s.gpus ?? spec.gpus;
      const env: Record<string, string> = { ...s.env };
      const trainerOut = runPath(outputDir);
      const modelView = (m: ModelInput): string =>
        m.kind === 'stage' ? runPath(m.hostPath) : m.local && opts.view === 'container' ? addMount(m.ref, 'models', `base model ${m.name}`) : m.ref;

      if (s.kind === 'train') {
        const model = resolveSource(s.model, round, id, [...at, 'model']);
        const refModel = s.ref_model ? resolveSource(s.ref_model, round, id, [...at, 'ref_model']) : undefined;
        if (model?.kind === 'stage') deps.add(model.key);
        if (refModel?.kind === 'stage') deps.add(refModel.key);
        const datasets: PlanDataset[] = [];
        s.datasets.forEach((dn, j) => {
          const pd = planDataset(dn, round, s, [...at, 'datasets', j]);
          if (pd) {
            datasets.push(pd);
            if (pd.producedBy) deps.add(pd.producedBy);
          }
        });
        const merged: Record<string, unknown> = { ...SAFETY_DEFAULTS, ...spec.defaults, ...s.args };
        // the stage's own `deepspeed:` is the same setting as `args.deepspeed` (load.ts refuses both at once)
        if (s.deepspeed !== undefined) merged['deepspeed'] = s.deepspeed;
        let deepspeed: TrainInstance['deepspeed'];
        if (merged['deepspeed'] !== undefined && merged['deepspeed'] !== null) {
          const dsAt: PathSegment[] =
            s.deepspeed !== undefined ? [...at, 'deepspeed'] : hasOwn(s.args, 'deepspeed') ? [...at, 'args', 'deepspeed'] : ['defaults', 'deepspeed'];
          const value = String(merged['deepspeed']);
          let ds = deepspeedFiles.get(value);
          if (ds === undefined) {
            ds = resolveDeepspeed(value, p.baseDir);
            deepspeedFiles.set(value, ds);
          }
          if (!ds.ok) {
            if (!deepspeedReported.has(`${value}@${formatPath(dsAt)}`)) {
              deepspeedReported.add(`${value}@${formatPath(dsAt)}`);
              diags.push(loc.diag(ds.error.code, dsAt, ds.error.message, ds.error.hint));
            }
          } else {
            const hostPath = join(runDir, 'deepspeed', basename(ds.value));
            deepspeed = { source: ds.value, hostPath };
            merged['deepspeed'] = runPath(hostPath);
          }
        }
        if (merged['overwrite_output_dir'] === true) {
          diags.push(loc.diag('safety', hasOwn(s.args, 'overwrite_output_dir') ? [...at, 'args', 'overwrite_output_dir'] : ['defaults', 'overwrite_output_dir'], 'overwrite_output_dir: true switches off LLaMA-Factory auto-resume and deletes trainer_log.jsonl', 'leave it false; use `flux-train round --restart-stage ID` for a fresh start', { severity: 'warning' }));
        }
        if (merged['save_only_model'] === true) {
          diags.push(loc.diag('safety', hasOwn(s.args, 'save_only_model') ? [...at, 'args', 'save_only_model'] : ['defaults', 'save_only_model'], 'save_only_model: true writes checkpoints without optimizer state: a crashed stage cannot resume', 'remove it unless disk space forces it', { severity: 'warning' }));
        }
        const trainerModel = model ? modelView(model) : '';
        const args: Record<string, unknown> = {
          stage: s.stage,
          do_train: true,
          model_name_or_path: trainerModel,
          ...(refModel ? { ref_model: modelView(refModel) } : {}),
          dataset_dir: trainerRunDir,
          dataset: datasets.map((d) => d.name).join(','),
          ...merged,
          output_dir: trainerOut,
        };
        // LLaMA-Factory needs torchrun for DeepSpeed even on one GPU, and for any multi-GPU run
        const n = gpuCount(gpus);
        if (deepspeed !== undefined || (gpus !== 'none' && n !== 1)) {
          env['FORCE_TORCHRUN'] = '1';
          env['MASTER_PORT'] = String(MASTER_PORT);
          if (n !== undefined) env['NPROC_PER_NODE'] = String(Math.max(n, 1));
        }
        if (spec.allow_extra_args) env['ALLOW_EXTRA_ARGS'] = '1';
        if (opts.view === 'container') env['HF_HOME'] = CONTAINER_HF_HOME;
        const trainerConfigPath = runPath(configPath);
        // no model: its reference failed and is already an error, so this plan is never returned
        if (model) stages.push({
          key,
          id,
          round,
          kind: 'train',
          stage: s.stage,
          dependsOn: [...deps],
          model,
          trainerModel,
          ...(refModel ? { refModel } : {}),
          datasets,
          outputDir,
          trainerOutputDir: trainerOut,
          configPath,
          trainerConfigPath,
          args,
          gpus,
          image: s.image ?? image,
          env,
          passEnv: spec.docker.pass_env,
          command: ['llamafactory-cli', 'train', trainerConfigPath],
          workdir: trainerRunDir,
          ...(deepspeed ? { deepspeed } : {}),
        });
      } else {
        for (const [name, src] of Object.entries(s.inputs)) {
          const m = resolveSource(src, round, id, [...at, 'inputs', name]);
          if (!m) continue;
          if (m.kind === 'stage') deps.add(m.key);
          env[`FLUX_MODEL_${name.toUpperCase()}`] = modelView(m);
        }
        env['FLUX_ROUND'] = String(round);
        env['FLUX_OUTPUT_DIR'] = trainerOut;
        env['FLUX_RUN_DIR'] = trainerRunDir === '.' ? '.' : trainerRunDir;
        if (opts.view === 'container') env['HF_HOME'] = CONTAINER_HF_HOME;
        stages.push({
          key,
          id,
          round,
          kind: 'command',
          stage: 'command',
          dependsOn: [...deps],
          outputDir,
          trainerOutputDir: trainerOut,
          gpus,
          image: s.image ?? image,
          env,
          passEnv: spec.docker.pass_env,
          command: s.command,
          workdir: s.workdir ?? trainerRunDir,
          expectedOutputs: s.outputs,
        });
      }
    }
  }
  // a stage referenced only through `after` in a round where it does not run is fine; a stage with no instance at all is suspicious
  for (const [id, e] of byId) {
    if (e.rounds.length === 0) {
      diags.push(loc.diag('rounds', ['stages', e.index, 'rounds'], `stage "${id}" runs in none of rounds 1..${opts.rounds}`, 'check its `rounds:` against --n', { severity: 'warning' }));
    }
  }
  if (diags.some((d) => d.severity === 'error')) return err(diags);
  return ok({
    plan: {
      pipeline: p.file,
      pipelineName: spec.name,
      runDir,
      rounds: opts.rounds,
      backend: opts.backend,
      image,
      llamafactoryVersion: spec.llamafactory.version,
      trainerRunDir,
      mounts,
      stages,
      datasetInfo,
      allowExtraArgs: spec.allow_extra_args,
    },
    warnings: diags,
  });
}

function checkDatasetFile(hostPath: string, spec: Parameters<typeof checkRecord>[0], ctx: MissingContext) {
  const file = firstDataFile(hostPath);
  if (!file.ok) return [file.error.code === 'missing-file' && !file.error.message.endsWith('is empty') ? { ...file.error, hint: missingDataHint(hostPath, ctx) } : file.error];
  const rec = readFirstRecord(file.value);
  if (!rec.ok) return [rec.error];
  if (rec.value === undefined) return [];
  return [...new Set(checkRecord(spec, rec.value))].map((m) => ({
    code: 'dataset-format' as const,
    message: `first record of ${file.value} does not match the declaration (formatting: ${spec.formatting}, ranking: ${spec.ranking}): ${m}`,
    hint: 'fix `formatting`, `ranking`, `columns` or `tags` of this dataset to match the file (see README "Datasets")',
  }));
}

export function gpuCount(g: GpuSpec): number | undefined {
  if (g === 'none') return 0;
  if (g === 'all') return undefined;
  if (typeof g === 'number') return g;
  return g.split(',').length;
}

function topoOrder(deps: Map<string, Set<string>>): Result<string[], string[]> {
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    const st = state.get(id);
    if (st === 'done') return undefined;
    if (st === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of deps.get(id) ?? []) {
      if (!deps.has(d)) continue;
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(id, 'done');
    out.push(id);
    return undefined;
  };
  for (const id of deps.keys()) {
    const c = visit(id);
    if (c) return err(c);
  }
  return ok(out);
}
