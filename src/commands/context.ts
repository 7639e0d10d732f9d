import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { formatDiagnostics, type Diagnostic } from '../pipeline/diagnostics.js';
import { loadPipeline, MAX_PIPELINE_BYTES, MAX_YAML_ALIASES, type Pipeline } from '../pipeline/load.js';
import { readRegularFile } from '../pipeline/read-file.js';
import { buildPlan, type PlanOptions, type PlanResult } from '../planner/plan.js';
import type { TrainerViewFactory } from '../planner/trainer-view.js';
import { trainerViewFor } from '../backends/trainer-view.js';
import type { BackendName, GpuSpec } from '../pipeline/schema.js';
import { GPU_IDS, expandGpuIds } from '../pipeline/gpus.js';
import { projectRoot } from '../util/project-root.js';
import { EXIT, FluxError } from '../util/errors.js';
import { runDirOption } from '../state/run-dir.js';

export const DEFAULT_PIPELINE = 'pipelines/reasonflux-v2.yaml';

export { EXIT };

export function pipelinePath(opt: string | undefined): string {
  if (opt) return opt;
  if (existsSync(DEFAULT_PIPELINE)) return DEFAULT_PIPELINE;
  return join(projectRoot, DEFAULT_PIPELINE);
}

export function defaultRunDir(p: Pipeline): string {
  return resolve('runs', p.spec.name);
}

export function loadOrThrow(file: string): Pipeline {
  const r = loadPipeline(file);
  if (!r.ok) throw new DiagnosticsError(r.error);
  return r.value;
}

/** Bad input found by the loader or the planner: the diagnostics are printed as they are (exit 2). */
export class DiagnosticsError extends Error {
  override readonly name = 'DiagnosticsError';
  readonly kind = 'bad-input' as const;
  constructor(readonly diagnostics: Diagnostic[]) {
    super(formatDiagnostics(diagnostics));
  }
}

/** The paths the trainers of this backend see; `hfCache` is the host folder docker mounts as the Hugging Face cache. */
export function viewFor(backend: BackendName, hfCache?: string): TrainerViewFactory {
  return trainerViewFor(backend, { hfCache });
}

export function planOrThrow(p: Pipeline, opts: PlanOptions): PlanResult {
  const r = buildPlan(p, opts);
  if (!r.ok) throw new DiagnosticsError(r.error);
  return r.value;
}

export function parseRounds(v: string | undefined, fallback?: number): number {
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new FluxError('usage', 'the number of rounds is missing', 'pass --n N, e.g. `flux-train round --n 3`', 'bad-input');
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new FluxError('usage', `--n must be a whole number of rounds >= 1, got "${v}"`, 'pass e.g. --n 3', 'bad-input');
  return n;
}

export function parseGpus(v: string | undefined): GpuSpec | undefined {
  if (v === undefined) return undefined;
  if (v === 'all' || v === 'none') return v;
  if (/^[0-9]+$/.test(v) && !v.includes(',')) {
    const n = Number(v);
    if (n >= 1) return n;
  }
  if (/[,-]/.test(v) && GPU_IDS.test(v)) return expandGpuIds(v);
  throw new FluxError('usage', `--gpus "${v}" is not all, none, a count, a list of ids or a range`, 'use --gpus all, --gpus 2, --gpus 0,1, --gpus 0-7 or --gpus none', 'bad-input');
}

export function parseBackend(v: string | undefined): BackendName | undefined {
  if (v === undefined) return undefined;
  if (v === 'docker' || v === 'local' || v === 'slurm') return v;
  throw new FluxError('usage', `unknown backend "${v}"`, 'use --backend docker, local or slurm', 'bad-input');
}

/** Where `round` with this pipeline keeps its run, without validating the whole pipeline. */
export function runDirOfPipeline(file: string): string {
  // bounded and regular files only: /dev/zero would fill the memory, a FIFO would block forever
  const read = readRegularFile(file, MAX_PIPELINE_BYTES, 'the pipeline');
  if (!read.ok) {
    const fix = read.error.code === 'unreadable' ? 'check the permissions of the file and the folders above it' : 'pass the pipeline YAML file itself with --pipeline, or the run dir with --run-dir';
    throw new FluxError('usage', read.error.message, fix, 'bad-input');
  }
  let name: unknown;
  try {
    name = (parseYaml(read.value.toString('utf8'), { maxAliasCount: MAX_YAML_ALIASES }) as { name?: unknown } | null)?.name;
  } catch (e) {
    throw new FluxError('usage', `cannot read the pipeline ${file}: ${(e as Error).message.split('\n')[0]}`, 'pass an existing pipeline file with --pipeline, or the run dir with --run-dir', 'bad-input', { cause: e });
  }
  if (typeof name !== 'string' || name === '') throw new FluxError('usage', `the pipeline ${file} has no name, so its run dir is unknown`, 'pass the run dir with --run-dir', 'bad-input');
  return resolve('runs', name);
}

/** Run dirs under ./runs, newest activity first. */
export function recentRuns(root = 'runs'): { dir: string; mtimeMs: number }[] {
  if (!existsSync(root)) return [];
  const out: { dir: string; mtimeMs: number }[] = [];
  for (const d of readdirSync(root, { withFileTypes: true })) {
    if (!d.isDirectory()) continue;
    const dir = resolve(root, d.name);
    let newest = -1;
    for (const f of ['state.json', 'events.jsonl']) {
      try {
        newest = Math.max(newest, statSync(join(dir, f)).mtimeMs);
      } catch {
        // not there
      }
    }
    if (newest >= 0) out.push({ dir, mtimeMs: newest });
  }
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

/**
 * The run dir every command uses: --run-dir; else the one `round --pipeline P` uses; else the most
 * recent run under runs/ (announced, since the person did not name it); else the default pipeline's.
 */
export function resolveRunDir(o: { runDir?: string | undefined; pipeline?: string | undefined }, announce: (line: string) => void = (l) => void process.stderr.write(`${l}\n`)): string {
  if (o.runDir !== undefined) return runDirOption(o.runDir, '');
  if (o.pipeline !== undefined) return runDirOfPipeline(o.pipeline);
  const recent = recentRuns();
  const newest = recent[0];
  if (newest) {
    announce(`run dir: ${relative(process.cwd(), newest.dir)} (the most recent of ${recent.length} under runs/; --run-dir or --pipeline picks another)`);
    return newest.dir;
  }
  const def = pipelinePath(undefined);
  return existsSync(def) ? runDirOfPipeline(def) : resolve('runs', 'reasonflux-v2');
}

/** A commander argument parser for a whole number in [min, max]; a bad value is a usage error (exit 2). */
export function wholeNumber(what: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    const n = /^\s*[0-9]+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` >= ${min}`}.`);
    return n;
  };
}

/** Seconds (a fraction allowed) >= 0. */
export function seconds(what: string): (v: string) => number {
  return (v: string) => {
    const n = /^\s*[0-9]+(\.[0-9]+)?\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isFinite(n) || n < 0 || n > 7 * 24 * 3600) throw new InvalidArgumentError(`${what} must be a number of seconds >= 0, e.g. 30.`);
    return n;
  };
}
