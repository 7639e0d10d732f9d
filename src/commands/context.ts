import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatDiagnostics, type Diagnostic } from '../pipeline/diagnostics.js';
import { loadPipeline, type Pipeline } from '../pipeline/load.js';
import { buildPlan, type PathView, type PlanOptions, type PlanResult } from '../pipeline/plan.js';
import type { BackendName, GpuSpec } from '../pipeline/schema.js';
import { projectRoot } from '../util/project-root.js';
import { FluxError } from '../util/errors.js';

export const DEFAULT_PIPELINE = 'pipelines/reasonflux-v2.yaml';

/** Exit codes, documented in the README. */
export const EXIT = {
  ok: 0,
  stageFailed: 1,
  badInput: 2,
  locked: 3,
  environment: 4,
  interrupted: 130,
} as const;

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

export class DiagnosticsError extends Error {
  override readonly name = 'DiagnosticsError';
  constructor(readonly diagnostics: Diagnostic[]) {
    super(formatDiagnostics(diagnostics));
  }
}

export function viewFor(backend: BackendName): PathView {
  return backend === 'docker' ? 'container' : 'host';
}

export function planOrThrow(p: Pipeline, opts: PlanOptions): PlanResult {
  const r = buildPlan(p, opts);
  if (!r.ok) throw new DiagnosticsError(r.error);
  return r.value;
}

export function parseRounds(v: string | undefined, fallback?: number): number {
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new FluxError('usage', 'the number of rounds is missing', 'pass --n N, e.g. `flux-train round --n 3`', 2);
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new FluxError('usage', `--n must be a whole number of rounds >= 1, got "${v}"`, 'pass e.g. --n 3', 2);
  return n;
}

export function parseGpus(v: string | undefined): GpuSpec | undefined {
  if (v === undefined) return undefined;
  if (v === 'all' || v === 'none') return v;
  if (/^[0-9]+$/.test(v) && !v.includes(',')) {
    const n = Number(v);
    if (n >= 1) return n;
  }
  if (/^[0-9]+(,[0-9]+)+$/.test(v)) return v;
  throw new FluxError('usage', `--gpus "${v}" is not all, none, a count or a list of ids`, 'use --gpus all, --gpus 2, --gpus 0,1 or --gpus none', 2);
}

export function parseBackend(v: string | undefined): BackendName | undefined {
  if (v === undefined) return undefined;
  if (v === 'docker' || v === 'local' || v === 'slurm') return v;
  throw new FluxError('usage', `unknown backend "${v}"`, 'use --backend docker, local or slurm', 2);
}
