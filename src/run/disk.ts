import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelInput, Plan, PlanStage, TrainInstance } from '../pipeline/plan-types.js';

/** Size of a folder tree in bytes (unreadable parts count as nothing). */
export function folderSize(dir: string): number {
  let total = 0;
  try {
    for (const n of readdirSync(dir)) {
      const st = statSync(join(dir, n));
      total += st.isDirectory() ? folderSize(join(dir, n)) : st.size;
    }
  } catch {
    // unreadable: count nothing
  }
  return total;
}

export function formatBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = b;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Parameter count of a base model: from a local folder's weights (bf16) or a hub id such as Qwen/Qwen3-32B. */
function paramsOf(plan: Plan, s: TrainInstance): number | undefined {
  let m: ModelInput | undefined = s.model;
  // follow the chain of stage outputs back to a base model
  const byKey = new Map(plan.stages.map((x) => [x.key, x]));
  for (let guard = 0; m?.kind === 'stage' && guard < 1000; guard++) {
    const from = byKey.get(m.key);
    m = from?.kind === 'train' ? from.model : undefined;
  }
  if (!m || m.kind !== 'base') return undefined;
  if (m.local) return folderSize(m.ref) / 2;
  const hit = /(\d+(?:\.\d+)?)\s*([BM])\b/i.exec(m.ref);
  if (!hit) return undefined;
  return Number(hit[1]) * (hit[2]?.toUpperCase() === 'B' ? 1e9 : 1e6);
}

/**
 * What the checkpoints of the stages to run will take: bf16 weights (2 B/param) in the root, and per
 * kept checkpoint the weights plus fp32 Adam state (12 B/param) for full fine-tuning.
 */
export function estimateDiskNeed(plan: Plan, toRun: PlanStage[]): { bytes: number; explain: string } {
  let bytes = 0;
  const parts: string[] = [];
  for (const s of toRun) {
    if (s.kind !== 'train') continue;
    const params = paramsOf(plan, s);
    if (params === undefined) continue;
    const full = (s.args['finetuning_type'] ?? 'lora') !== 'lora';
    const limit = s.args['save_total_limit'];
    const keep = typeof limit === 'number' ? limit : 3;
    const perCkpt = full ? params * 14 : params * 0.02;
    const need = params * (full ? 2 : 0.01) + keep * perCkpt;
    bytes += need;
    parts.push(`${s.key} ${formatBytes(need)}`);
  }
  return { bytes, explain: parts.length > 0 ? `${parts.join(', ')}; ${'save_total_limit'} checkpoints with optimizer state each` : 'nothing to estimate' };
}
