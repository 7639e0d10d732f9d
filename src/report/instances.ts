import { existsSync } from 'node:fs';
import { RunDir } from '../util/run-layout.js';
import type { StageState } from '../state/state.js';
import { splitKey } from './graph.js';
import type { InstanceDetails } from './model.js';

/** `base:/models/x` and `stage:r1/sft`, as a person reads them. */
export function describeModel(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.startsWith('stage:')) return `output of ${v.slice('stage:'.length)}`;
  if (v.startsWith('base:')) return `base model ${v.slice('base:'.length)}`;
  return v;
}

/** Dataset names with where their file comes from (another stage instance, or a file on disk). */
function datasets(fields: Record<string, string>): string[] {
  return Object.entries(fields)
    .filter(([k]) => k.startsWith('dataset.'))
    .map(([k, v]) => `${k.slice('dataset.'.length)}${v.startsWith('from:') ? ` (written by ${v.slice('from:'.length)})` : ''}`);
}

const unquote = (v: string | undefined): string | undefined => (v !== undefined && /^".*"$/.test(v) ? (JSON.parse(v) as string) : v);

/**
 * LLaMA-Factory arguments (and image, command) that differ from the same stage id one round
 * earlier. The model and dependencies differ every round by design, so they are left out.
 */
export function changedArgs(cur: Record<string, string>, prev: Record<string, string>): { name: string; before?: string; after?: string }[] {
  const names = new Set([...Object.keys(cur), ...Object.keys(prev)].filter((k) => k.startsWith('args.') || k === 'image' || k === 'command' || k.startsWith('env.')));
  const out: { name: string; before?: string; after?: string }[] = [];
  for (const name of [...names].sort()) {
    const a = unquote(prev[name]);
    const b = unquote(cur[name]);
    if (a === b) continue;
    out.push({ name: name.replace(/^args\./, ''), ...(a !== undefined ? { before: a } : {}), ...(b !== undefined ? { after: b } : {}) });
  }
  return out;
}

export function instanceDetails(runDir: string, key: string, st: StageState | undefined, fields: Record<string, string>, prevFields: Record<string, string> | undefined): InstanceDetails | undefined {
  const k = splitKey(key);
  if (!k) return undefined;
  const layout = new RunDir(runDir);
  const configPath = layout.configFile(key);
  const logPaths = (st?.attempts ?? []).map((a) => layout.attemptLog(key, a.n)).filter((p) => existsSync(p));
  // a command stage has no model of its own: it reads the outputs of the instances it depends on
  const inputs = Object.keys(fields).filter((f) => f.startsWith('dep.')).map((f) => f.slice('dep.'.length));
  const model = fields['kind'] === 'command' && inputs.length > 0 ? `reads ${inputs.join(', ')}` : describeModel(fields['model']);
  return {
    key,
    id: k.id,
    round: k.round,
    kind: fields['kind'] ?? 'train',
    status: st?.status ?? 'pending',
    ...(model !== undefined ? { model } : {}),
    datasets: datasets(fields),
    outputDir: layout.outputDir(k.round, k.id),
    ...(existsSync(configPath) ? { configPath } : {}),
    logPaths,
    ...(prevFields ? { changed: changedArgs(fields, prevFields) } : {}),
  };
}
