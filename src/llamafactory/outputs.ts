import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ManifestEntry } from '../run/events.js';

/** Files that mark a full model or adapter in LLaMA-Factory's CHECKPOINT_NAMES (extras/constants.py). */
const WEIGHT_FILE = /^(model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json|adapter_model\.(safetensors|bin)|pytorch_model(-\d+-of-\d+)?\.bin|pytorch_model\.bin\.index\.json)$/;

export function hasWeights(dir: string): boolean {
  try {
    const files = readdirSync(dir);
    if (!files.some((f) => WEIGHT_FILE.test(f))) return false;
    return missingShards(dir, files).length === 0;
  } catch {
    return false;
  }
}

/** Shards named in a safetensors/bin index that are not on disk (a crash mid-save). */
function missingShards(dir: string, files: string[]): string[] {
  const index = files.find((f) => f === 'model.safetensors.index.json' || f === 'pytorch_model.bin.index.json');
  if (!index) return [];
  try {
    const map = (JSON.parse(readFileSync(join(dir, index), 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
    return [...new Set(Object.values(map))].filter((f) => !files.includes(f));
  } catch {
    return [index];
  }
}

/** What is missing for an output dir to count as a finished LLaMA-Factory stage (exit 0 aside). */
export function missingFinishedFiles(outputDir: string): string[] {
  const missing: string[] = [];
  for (const f of ['train_results.json', 'trainer_state.json', 'config.json']) if (!existsSync(join(outputDir, f))) missing.push(f);
  if (!hasWeights(outputDir)) missing.push('weights (model*.safetensors or adapter_model.safetensors)');
  return missing;
}

export interface CheckpointInfo {
  step: number;
  path: string;
  valid: boolean;
  /** why it is not valid */
  problem?: string;
}

/** Steps of the checkpoint-N folders, from their names alone (cheap enough to poll). */
export function checkpointSteps(outputDir: string): number[] {
  try {
    return readdirSync(outputDir)
      .map((n) => /^checkpoint-(\d+)$/.exec(n)?.[1])
      .filter((m): m is string => m !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** All checkpoint-N folders, newest first, each checked like a resume would need it. */
export function listCheckpoints(outputDir: string): CheckpointInfo[] {
  let names: string[];
  try {
    names = readdirSync(outputDir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), path: join(outputDir, m[0]) }))
    .filter((c) => safeIsDir(c.path))
    .sort((a, b) => b.step - a.step)
    .map((c) => {
      const problem = checkpointProblem(c.path, c.step);
      return problem === undefined ? { ...c, valid: true } : { ...c, valid: false, problem };
    });
}

function safeIsDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A checkpoint is usable when its state parses, names its own step, and weights and optimizer state are there. */
export function checkpointProblem(path: string, step: number): string | undefined {
  let state: { global_step?: unknown };
  try {
    state = JSON.parse(readFileSync(join(path, 'trainer_state.json'), 'utf8')) as { global_step?: unknown };
  } catch (e) {
    return existsSync(join(path, 'trainer_state.json')) ? `trainer_state.json does not parse (${(e as Error).message})` : 'no trainer_state.json';
  }
  if (state.global_step !== step) return `trainer_state.json says global_step ${String(state.global_step)}, folder says ${step}`;
  let files: string[];
  try {
    files = readdirSync(path);
  } catch {
    return 'removed while being read (checkpoint rotation)';
  }
  const deepspeed = files.some((f) => /^global_step\d+$/.test(f)) || files.includes('latest');
  if (!deepspeed && !hasWeights(path)) return 'no model weights';
  if (!deepspeed && !files.includes('optimizer.pt')) return 'no optimizer state (optimizer.pt or DeepSpeed global_step*/)';
  if (deepspeed && !files.some((f) => f === `global_step${step}`)) return `DeepSpeed state global_step${step}/ is missing`;
  return undefined;
}

/** Root files of a finished output dir with sizes, to notice later tampering or deletion. */
export function outputManifest(outputDir: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const name of readdirSync(outputDir).sort()) {
    const st = statSync(join(outputDir, name));
    if (st.isFile()) out.push({ name, size: st.size });
  }
  return out;
}

/** Differences between a recorded manifest and the disk; empty when they match. */
export function manifestDrift(outputDir: string, manifest: ManifestEntry[]): string[] {
  const problems: string[] = [];
  for (const m of manifest) {
    try {
      const st = statSync(join(outputDir, m.name));
      if (st.size !== m.size) problems.push(`${m.name} changed size (${m.size} -> ${st.size})`);
    } catch {
      problems.push(`${m.name} is gone`);
    }
  }
  return problems;
}
