import { basename, join } from 'node:path';
import { formatPath, type Diagnostic, type Locator, type PathSegment } from '../pipeline/diagnostics.js';
import { resolveDeepspeed, type DeepspeedProblem } from '../pipeline/deepspeed.js';
import type { TrainInstance } from '../pipeline/plan-types.js';
import type { GpuSpec, TrainStage } from '../pipeline/schema.js';
import { hasOwn } from '../util/own.js';
import type { Result } from '../util/result.js';

export const MASTER_PORT = 29500;

/** Values flux-train adds beyond the seed recipe; visible in the plan, overridable in `defaults`/`args`. */
export const SAFETY_DEFAULTS: Record<string, unknown> = {
  // true would switch off LLaMA-Factory's auto-resume and delete trainer_log.jsonl
  overwrite_output_dir: false,
  // 32B checkpoints with optimizer state are ~400 GB each; keep two good ones and the newest
  save_total_limit: 3,
};

/** DeepSpeed files resolved once per value, and each problem reported once per place it is set. */
export class DeepspeedFiles {
  readonly #resolved = new Map<string, Result<string, DeepspeedProblem>>();
  readonly #reported = new Set<string>();

  constructor(readonly baseDir: string) {}

  resolve(value: string): Result<string, DeepspeedProblem> {
    let ds = this.#resolved.get(value);
    if (ds === undefined) {
      ds = resolveDeepspeed(value, this.baseDir);
      this.#resolved.set(value, ds);
    }
    return ds;
  }

  /** true the first time this value is reported at this place */
  firstReport(value: string, at: PathSegment[]): boolean {
    const id = `${value}@${formatPath(at)}`;
    if (this.#reported.has(id)) return false;
    this.#reported.add(id);
    return true;
  }
}

export interface MergedArgs {
  /** safety defaults < pipeline `defaults` < stage `args` (< the stage's `deepspeed:`), DeepSpeed as the trainer sees it */
  merged: Record<string, unknown>;
  deepspeed?: TrainInstance['deepspeed'];
  diags: Diagnostic[];
}

/** The LLaMA-Factory arguments a train stage sets itself, with its DeepSpeed file and safety warnings. */
export function mergeArgs(
  s: TrainStage,
  defaults: Record<string, unknown>,
  at: PathSegment[],
  ctx: { loc: Locator; runDir: string; runPath: (hostPath: string) => string; deepspeedFiles: DeepspeedFiles },
): MergedArgs {
  const diags: Diagnostic[] = [];
  const merged: Record<string, unknown> = { ...SAFETY_DEFAULTS, ...defaults, ...s.args };
  // the stage's own `deepspeed:` is the same setting as `args.deepspeed` (load.ts refuses both at once)
  if (s.deepspeed !== undefined) merged['deepspeed'] = s.deepspeed;
  let deepspeed: TrainInstance['deepspeed'];
  if (merged['deepspeed'] !== undefined && merged['deepspeed'] !== null) {
    const dsAt: PathSegment[] = s.deepspeed !== undefined ? [...at, 'deepspeed'] : hasOwn(s.args, 'deepspeed') ? [...at, 'args', 'deepspeed'] : ['defaults', 'deepspeed'];
    const value = String(merged['deepspeed']);
    const ds = ctx.deepspeedFiles.resolve(value);
    if (!ds.ok) {
      if (ctx.deepspeedFiles.firstReport(value, dsAt)) diags.push(ctx.loc.diag(ds.error.code, dsAt, ds.error.message, ds.error.hint));
    } else {
      const hostPath = join(ctx.runDir, 'deepspeed', basename(ds.value));
      deepspeed = { source: ds.value, hostPath };
      merged['deepspeed'] = ctx.runPath(hostPath);
    }
  }
  diags.push(...safetyWarnings(s, merged, at, ctx.loc));
  return { merged, ...(deepspeed ? { deepspeed } : {}), diags };
}

function safetyWarnings(s: TrainStage, merged: Record<string, unknown>, at: PathSegment[], loc: Locator): Diagnostic[] {
  const where = (key: string): PathSegment[] => (hasOwn(s.args, key) ? [...at, 'args', key] : ['defaults', key]);
  const out: Diagnostic[] = [];
  if (merged['overwrite_output_dir'] === true) {
    out.push(loc.diag('safety', where('overwrite_output_dir'), 'overwrite_output_dir: true switches off LLaMA-Factory auto-resume and deletes trainer_log.jsonl', 'leave it false; use `flux-train round --restart-stage ID` for a fresh start', { severity: 'warning' }));
  }
  if (merged['save_only_model'] === true) {
    out.push(loc.diag('safety', where('save_only_model'), 'save_only_model: true writes checkpoints without optimizer state: a crashed stage cannot resume', 'remove it unless disk space forces it', { severity: 'warning' }));
  }
  return out;
}

/** LLaMA-Factory needs torchrun for DeepSpeed even on one GPU, and for any multi-GPU run. */
export function launcherEnv(gpus: GpuSpec, deepspeed: boolean, allowExtraArgs: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  const n = gpuCount(gpus);
  if (deepspeed || (gpus !== 'none' && n !== 1)) {
    env['FORCE_TORCHRUN'] = '1';
    env['MASTER_PORT'] = String(MASTER_PORT);
    if (n !== undefined) env['NPROC_PER_NODE'] = String(Math.max(n, 1));
  }
  if (allowExtraArgs) env['ALLOW_EXTRA_ARGS'] = '1';
  return env;
}

export function gpuCount(g: GpuSpec): number | undefined {
  if (g === 'none') return 0;
  if (g === 'all') return undefined;
  if (typeof g === 'number') return g;
  return g.split(',').length;
}
