import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan, PlanStage, ServeInstance } from '../pipeline/plan-types.js';
import { PIPELINE_FORMAT_VERSION } from '../pipeline/schema.js';

/**
 * A stage instance's identity, field by field, so that a change can be named ("args.learning_rate
 * changed") like Snakemake's rerun reasons. Paths that only follow from the run dir are left out:
 * moving a run dir does not invalidate it.
 */
export interface Fingerprint {
  hash: string;
  fields: Record<string, string>;
}

/** Fields that shape the learning-rate schedule or the data order: resuming across a change is wrong. */
export const RESUME_CRITICAL = [
  'args.num_train_epochs',
  'args.max_steps',
  'args.per_device_train_batch_size',
  'args.gradient_accumulation_steps',
  'args.lr_scheduler_type',
  'args.learning_rate',
  'args.warmup_steps',
  'args.warmup_ratio',
  'args.max_samples',
  'args.cutoff_len',
  'args.seed',
  'args.dataset',
  'model',
];

const PATH_ARGS = new Set(['output_dir', 'dataset_dir', 'model_name_or_path', 'ref_model', 'deepspeed', 'dataset']);

const h = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);
const short = (v: unknown): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length <= 64 ? s : `sha:${h(s)}`;
};

export interface FingerprintOptions {
  /** hash dataset contents instead of trusting size and mtime */
  hashData?: boolean;
  /** the fields a stage instance finished with: a dataset is compared in the mode it was recorded in */
  recorded?: (key: string) => Record<string, string> | undefined;
}

export function fingerprintPlan(plan: Plan, opts: FingerprintOptions = {}): Map<string, Fingerprint> {
  const out = new Map<string, Fingerprint>();
  for (const s of plan.stages) out.set(s.key, fingerprintStage(plan, s, out, opts));
  return out;
}

function fingerprintStage(plan: Plan, s: PlanStage, done: Map<string, Fingerprint>, opts: FingerprintOptions): Fingerprint {
  const f: Record<string, string> = {};
  f['format'] = String(PIPELINE_FORMAT_VERSION);
  f['kind'] = s.kind;
  f['image'] = s.image;
  // fields are hashed sorted by name, so the order they are set in does not matter
  if (s.kind === 'train') {
    for (const [k, v] of Object.entries(s.args)) if (!PATH_ARGS.has(k)) f[`args.${k}`] = short(v);
    if (s.deepspeed) f['args.deepspeed'] = `sha:${h(readFileSync(s.deepspeed.source, 'utf8'))}`;
    f['args.dataset'] = short(s.datasets.map((d) => d.declared));
    f['model'] = s.model.kind === 'base' ? `base:${s.model.ref}` : `stage:${s.model.key}`;
    if (s.refModel) f['ref_model'] = s.refModel.kind === 'base' ? `base:${s.refModel.ref}` : `stage:${s.refModel.key}`;
    const recorded = opts.recorded?.(s.key);
    for (const d of s.datasets) f[`dataset.${d.declared}`] = d.producedBy ? `from:${d.producedBy}` : dataField(d.hostPath, opts.hashData ?? false, recorded?.[`dataset.${d.declared}`]);
  } else {
    f['command'] = short(s.command);
    f['outputs'] = short(s.expectedOutputs);
    // what a consumer gets from a server is decided by the server's engine, model and flags (never its port)
    for (const e of s.endpoints) {
      const serve = plan.serves.find((x) => x.key === e.serve);
      f[`endpoint.${e.name}`] = serve ? fingerprintServe(serve, done).hash : 'unknown';
    }
  }
  for (const dep of s.dependsOn) f[`dep.${dep}`] = done.get(dep)?.hash ?? 'unknown';
  // env values may be secrets: the fingerprint (stored in state.json and events.jsonl) keeps only their hash
  for (const [k, v] of Object.entries(s.env)) if (!k.startsWith('FLUX_') && k !== 'HF_HOME') f[`env.${k}`] = `sha:${h(JSON.stringify(v))}`;
  return { hash: hashFields(f), fields: f };
}

/**
 * A server's identity: a live server of the same identity is re-used by a restarted CLI, one of
 * another is stopped. Its model's upstream hash is part of it, so a retrained model is served anew.
 */
export function fingerprintServe(s: ServeInstance, stages: ReadonlyMap<string, Fingerprint>): Fingerprint {
  const f: Record<string, string> = {
    format: String(PIPELINE_FORMAT_VERSION),
    kind: 'serve',
    image: s.image,
    engine: s.engine,
    model: s.model.kind === 'base' ? `base:${s.model.ref}` : `stage:${s.model.key}`,
    served_name: s.servedName,
    args: short(s.extraArgs),
    template: s.template ?? '',
  };
  for (const dep of s.dependsOn) f[`dep.${dep}`] = stages.get(dep)?.hash ?? 'unknown';
  for (const [k, v] of Object.entries(s.env)) if (!k.startsWith('FLUX_') && !k.startsWith('API_') && k !== 'HF_HOME') f[`env.${k}`] = `sha:${h(JSON.stringify(v))}`;
  return { hash: hashFields(f), fields: f };
}

export function hashFields(f: Record<string, string>): string {
  return h(JSON.stringify(Object.entries(f).sort(([a], [b]) => (a < b ? -1 : 1))));
}

/**
 * The hash a fingerprint written before env values were hashed has in today's format: clear env
 * values hashed the way they are now, upstream hashes renamed where those stages were upgraded the
 * same way. Equal to today's hash means nothing changed, so an existing run does not rerun for
 * the new format.
 */
export function legacyHash(fields: Record<string, string>, renamed: ReadonlyMap<string, string>): string | undefined {
  let touched = false;
  const f: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (k.startsWith('env.') && !v.startsWith('sha:')) {
      f[k] = `sha:${h(v)}`;
      touched = true;
    } else if (k.startsWith('dep.') && renamed.has(v)) {
      f[k] = renamed.get(v) as string;
      touched = true;
    } else f[k] = v;
  }
  return touched ? hashFields(f) : undefined;
}

/**
 * A dataset's identity in the mode asked for, unless the stage finished with it identified in the
 * other mode (size and mtime versus content): then it is compared in that recorded mode, and kept
 * as recorded when it still matches. Switching --hash-data on or off is no change to the data, so
 * it must not rerun a finished stage; a stage that runs again records the mode asked for.
 */
function dataField(path: string, hashData: boolean, recorded: string | undefined): string {
  const now = datasetIdentity(path, hashData);
  if (recorded === undefined || recorded === now) return now;
  const recordedMode = recorded.startsWith('content:') ? true : recorded.startsWith('stat:') ? false : undefined;
  if (recordedMode === undefined || recordedMode === hashData) return now;
  return datasetIdentity(path, recordedMode) === recorded ? recorded : now;
}

/** path + size + mtime of a file, or of every file in a folder; content hash on request. */
export function datasetIdentity(path: string, hashContent: boolean): string {
  try {
    const st = statSync(path);
    const files = st.isDirectory()
      ? readdirSync(path)
          .filter((n) => !n.startsWith('.'))
          .sort()
          .map((n) => join(path, n))
      : [path];
    const parts = files.map((file) => {
      const fs = statSync(file);
      return hashContent ? `${file}:${createHash('sha256').update(readFileSync(file)).digest('hex')}` : `${file}:${fs.size}:${Math.floor(fs.mtimeMs)}`;
    });
    return `${hashContent ? 'content' : 'stat'}:${h(parts.join('|'))}`;
  } catch {
    return 'missing';
  }
}

/** Names of the fields that differ between two fingerprints. */
export function changedFields(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => before[k] !== after[k]).sort();
}
