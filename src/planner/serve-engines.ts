import type { ServeInstance } from '../pipeline/plan-types.js';
import type { GpuSpec, ServeEngineName } from '../pipeline/schema.js';
import { unreachable } from '../util/unreachable.js';

/**
 * How each inference engine is started as an OpenAI-compatible server (a serve stage's launch line;
 * the port is filled in when it starts). Each engine gets the port, host, served name and tensor parallel
 * size in its own words; everything else an engine needs is the caller's `extraArgs`.
 */
export interface ServeRequest {
  engine: ServeEngineName;
  /** the model as the server process sees it: a hub id or a path */
  model: string;
  /** the name GET /v1/models must list, and what consumers put in `model` */
  servedName: string;
  port: number;
  host: string;
  /** GPUs the server shards over (1 without GPUs) */
  tensorParallel: number;
  /** the llamafactory engine's chat template (its inference YAML needs one) */
  template?: string;
  /** where the llamafactory engine's inference YAML is written, as the server sees it */
  configPath: string;
  extraArgs: string[];
}

/** What to run, with which extra environment, and the inference YAML the llamafactory engine reads. */
export interface ServeLaunch {
  command: string[];
  env: Record<string, string>;
  /** text of `configPath`, only for the llamafactory engine */
  config?: string;
}

export type ServeLaunchProblem = { kind: 'no-template' };

export function serveLaunch(r: ServeRequest): { ok: true; value: ServeLaunch } | { ok: false; error: ServeLaunchProblem } {
  const tp = Math.max(1, r.tensorParallel);
  switch (r.engine) {
    case 'sglang':
      // the seed's flags: --reasoning-parser qwen3, --tp-size = the GPUs given
      return ok({ command: ['python', '-m', 'sglang.launch_server', '--model-path', r.model, '--served-model-name', r.servedName, '--host', r.host, '--port', String(r.port), '--tp-size', String(tp), ...withDefault(r.extraArgs, '--reasoning-parser', 'qwen3')], env: {} });
    case 'vllm':
      return ok({ command: ['vllm', 'serve', r.model, '--served-model-name', r.servedName, '--host', r.host, '--port', String(r.port), '--tensor-parallel-size', String(tp), ...r.extraArgs], env: {} });
    case 'llamafactory': {
      if (r.template === undefined) return { ok: false, error: { kind: 'no-template' } };
      // the HF engine on CPU; `API_MODEL_NAME` is the one id /v1/models lists (docs/serving-facts.md)
      const config = [`model_name_or_path: ${JSON.stringify(r.model)}`, `template: ${JSON.stringify(r.template)}`, 'infer_backend: huggingface', ''].join('\n');
      return ok({ command: ['llamafactory-cli', 'api', r.configPath, ...r.extraArgs], env: { API_HOST: r.host, API_PORT: String(r.port), API_MODEL_NAME: r.servedName }, config });
    }
    default:
      return unreachable(r.engine, 'serve engine');
  }
}

/** A planned server's launch on `port` with the GPUs it was given (undefined: its own `gpus`); the plan shows port 0. */
export function launchOf(s: ServeInstance, port: number, gpus: GpuSpec | undefined): ReturnType<typeof serveLaunch> {
  return serveLaunch({ engine: s.engine, model: s.serverModel, servedName: s.servedName, port, host: s.bindHost, tensorParallel: tensorParallelOf(gpus ?? s.gpus), ...(s.template !== undefined ? { template: s.template } : {}), configPath: s.serverConfigPath, extraArgs: s.extraArgs });
}

const ok = (value: ServeLaunch) => ({ ok: true as const, value });

/** The seed's default for a flag, unless the caller set that flag. */
function withDefault(args: string[], flag: string, value: string): string[] {
  return args.some((a) => a === flag || a.startsWith(`${flag}=`)) ? args : [...args, flag, value];
}

/** How many GPUs a server shards over: the ids it was given, a count, else 1 (`all` is counted where the pool knows its ids). */
export function tensorParallelOf(gpus: GpuSpec | undefined): number {
  if (typeof gpus === 'number') return gpus;
  if (gpus === undefined || gpus === 'all' || gpus === 'none') return 1;
  return gpus.split(',').length;
}
