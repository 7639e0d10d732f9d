import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatDiagnostic } from '../pipeline/diagnostics.js';
import { envPrefix, renderRunScript, writeDatasetInfo, writeStageConfig } from '../planner/write-configs.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FluxError } from '../util/errors.js';
import { writeProblem } from '../state/run-dir.js';
import { stageFileName } from '../util/run-layout.js';
import type { Pipeline } from '../pipeline/load.js';
import { manualView } from '../backends/trainer-view.js';
import type { Plan, PlanStage } from '../pipeline/plan-types.js';
import { EXIT, loadOrThrow, parseRounds, pipelinePath, planOrThrow } from './context.js';

export interface ConfigOptions {
  pipeline?: string;
  n?: string;
  out?: string;
  stage?: string;
}

/** Writes what a manual run needs: dataset_info.json, a YAML per stage instance, DeepSpeed JSON, run.sh. */
export async function configCommand(o: ConfigOptions): Promise<number> {
  if (!o.out) throw new FluxError('usage', 'the output folder is missing', 'pass --out DIR, e.g. `flux-train config --n 3 --out cfg`', 'bad-input');
  const p = loadOrThrow(pipelinePath(o.pipeline));
  const rounds = parseRounds(o.n, 3);
  const out = resolve(o.out);
  const { plan, warnings } = planOrThrow(p, { rounds, runDir: out, backend: 'local', view: manualView, dataProblems: 'warning' });
  for (const w of warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
  const stages = o.stage ? plan.stages.filter((s) => s.id === o.stage || s.key === o.stage) : plan.stages;
  if (stages.length === 0) {
    throw new FluxError('usage', `no stage instance matches --stage ${o.stage}`, `use one of: ${[...new Set(plan.stages.map((s) => s.id))].join(', ')} (or a key such as ${plan.stages[0]?.key ?? 'r1/ID'})`, 'bad-input');
  }
  ensureFolder(out, `--out ${o.out}`);
  try {
    return await writeAll(p, plan, stages, out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    const path = (e as NodeJS.ErrnoException).path ?? out;
    throw new FluxError('output-folder', `cannot write ${path} (${code})`, `pass --out a folder you can write to; ${o.out} and what is inside it must be folders and files you own`, 'bad-input', { cause: e });
  }
}

/** The folder --out names, made if missing; a file (or a file above it) in the way is bad input. */
function ensureFolder(dir: string, what: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    st = undefined;
  }
  if (st !== undefined && !st.isDirectory()) {
    throw new FluxError('output-folder', `${what} is ${st.isFile() ? 'a file' : 'not a folder'} (${dir})`, 'pass --out a new or existing folder, e.g. --out cfg', 'bad-input');
  }
  // asked first: Node's recursive mkdir never returns under /proc
  const known = writeProblem(dir);
  if (known !== undefined) throw cannotCreate(dir, what, known, undefined);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw cannotCreate(dir, what, (e as NodeJS.ErrnoException).code ?? String(e), e);
  }
}

function cannotCreate(dir: string, what: string, code: string, cause: unknown): FluxError {
  const why =
    code === 'ENOTDIR' || code === 'EEXIST'
      ? 'a file is in the way on its path'
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'no permission to create it'
        : code === 'PSEUDO_FS'
          ? "it lies on /proc or /sys, the kernel's view of processes and devices, not a disk"
          : code;
  return new FluxError('output-folder', `cannot create ${what} (${dir}): ${why}`, 'pass --out a folder you can create, e.g. --out cfg', 'bad-input', cause === undefined ? undefined : { cause });
}

async function writeAll(p: Pipeline, plan: Plan, stages: PlanStage[], out: string): Promise<number> {
  const info = writeDatasetInfo(plan);
  process.stdout.write(`wrote ${info}\n`);
  for (const s of stages) {
    if (s.kind !== 'train') continue;
    writeStageConfig(plan, s, p.keySet);
    process.stdout.write(`wrote ${s.configPath}${s.deepspeed ? ` (+ ${s.deepspeed.hostPath})` : ''}\n`);
  }
  // sbatch scripts for the same stages, for a manual run on a Slurm cluster (pipeline `slurm:` settings)
  const { renderJobScript } = await import('../backends/slurm.js');
  const byId = new Map(p.spec.stages.map((x) => [x.id, x]));
  mkdirSync(join(out, 'logs'), { recursive: true });
  for (const s of stages) {
    const st = { ...p.spec.slurm, ...(byId.get(s.id)?.slurm ?? {}) };
    const file = join(out, 'slurm', `${stageFileName(s.key)}.sbatch`);
    writeFileAtomic(file, renderJobScript(plan, s, st, { jobName: `flux-${plan.pipelineName}-${stageFileName(s.key)}`, comment: `flux-train-manual:${s.key}`, logPath: join(out, 'logs', `${stageFileName(s.key)}.%j.log`), env: p.spec.local.env, passEnv: p.spec.docker.pass_env }), 0o755);
  }
  process.stdout.write(`wrote ${join(out, 'slurm')}/*.sbatch (submit in order with sbatch, each after the previous finished)\n`);
  const script = join(out, 'run.sh');
  writeFileAtomic(script, renderRunScript({ ...plan, stages }));
  chmodSync(script, 0o755);
  process.stdout.write(`wrote ${script}\n\nRun them in this order, from ${out}:\n`);
  for (const s of stages) {
    process.stdout.write(s.kind === 'train' ? `  ${envPrefix(s)}llamafactory-cli train ${s.trainerConfigPath}\n` : `  (command stage ${s.key}: ${s.command.join(' ')})\n`);
    if (s.kind === 'command') for (const e of s.endpoints) process.stdout.write(`    needs a server for FLUX_ENDPOINT_${e.name.toUpperCase()}: ${serverHint(plan, e.serve, e.name.toUpperCase())}\n`);
  }
  process.stdout.write(`or all at once: bash ${script}\n`);
  return EXIT.ok;
}

/** How to start a command stage's server by hand: flux-train picks the port when it runs it, a person picks one here. */
function serverHint(plan: Plan, key: string, name: string): string {
  const s = plan.serves.find((x) => x.key === key);
  if (s === undefined) return key;
  // the seed's ports: 30000, 30001, ... one per server of the round
  const port = 30000 + plan.serves.filter((x) => x.round === s.round).indexOf(s);
  const line = s.engine === 'llamafactory' ? `API_PORT=${port} API_MODEL_NAME=${s.servedName} llamafactory-cli api <inference YAML: model_name_or_path ${s.serverModel}, template ${s.template ?? ''}>` : s.command.join(' ').replace('--port 0', `--port ${port}`);
  return `${line}, then FLUX_ENDPOINT_${name}=http://127.0.0.1:${port}/v1 and FLUX_MODEL_${name}=${s.servedName}`;
}
