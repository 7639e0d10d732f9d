import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { Locator, type Diagnostic, type PathSegment } from './diagnostics.js';
import { MAX_ROUNDS, PipelineSpec } from './schema.js';
import { readRegularFile } from './read-file.js';
import { checkStages } from './stage-checks.js';
import { checkYamlNodes, firstAlias } from './yaml-checks.js';
import { checkRange } from '../llamafactory/ranges.js';
import { checkValueType, keySetFor, suggestFrom, suggestKey, type KeySet } from '../llamafactory/keys.js';
import { own } from '../util/own.js';
import { unreachable } from '../util/unreachable.js';
import { err, ok, type Result } from '../util/result.js';

/** A pipeline that parsed and passed the schema, with what is needed to point at its lines. */
export interface Pipeline {
  file: string;
  /** folder that relative paths in the file are resolved against */
  baseDir: string;
  spec: PipelineSpec;
  locator: Locator;
  keySet: KeySet;
}

/**
 * Keys flux-train sets itself for every stage instance; users set them through the pipeline's own
 * fields, so that handoffs across stages and rounds stay correct.
 */
export const MANAGED_KEYS: Record<string, string> = {
  stage: 'set the stage with `stage:` on the stage entry',
  model_name_or_path: 'set the model with `model:` on the stage (base model, a stage of this round, or of the previous round)',
  output_dir: 'flux-train gives every round and stage its own output dir under the run dir; remove output_dir',
  dataset: 'list datasets with `datasets:` on the stage',
  dataset_dir: 'flux-train writes dataset_info.json into the run dir and points dataset_dir at it; remove dataset_dir',
  ref_model: 'set the DPO reference with `ref_model:` on the stage',
  do_train: 'train stages always run with do_train: true',
};

/** A pipeline is a page of YAML; anything near this size is not one (and must not be read whole). */
export const MAX_PIPELINE_BYTES = 1024 * 1024;
/** yaml's own default, set explicitly: an alias bomb expands exponentially, this bounds it. */
export const MAX_YAML_ALIASES = 100;

export function loadPipeline(file: string): Result<Pipeline, Diagnostic[]> {
  const abs = resolve(file);
  const whole = (code: string, message: string, hint: string): Result<Pipeline, Diagnostic[]> =>
    err([{ severity: 'error', code, file, line: 0, column: 0, path: '(file)', message, hint }]);
  const read = readRegularFile(abs, MAX_PIPELINE_BYTES, 'pipeline file');
  if (!read.ok) {
    const e = read.error;
    switch (e.code) {
      case 'missing-file':
        return whole('missing-file', `pipeline file ${file} does not exist`, 'pass an existing file with --pipeline, e.g. pipelines/reasonflux-v2.yaml');
      case 'not-a-file':
        return whole('not-a-file', e.message.replace(abs, file), 'pass the YAML file itself with --pipeline, e.g. pipelines/reasonflux-v2.yaml');
      case 'too-large':
        return whole('too-large', e.message.replace(abs, file), 'a pipeline is a short YAML file; pass the right file with --pipeline');
      case 'unreadable':
        return whole('unreadable', e.message.replace(abs, file), 'check the permissions of the file and the folders above it');
      default:
        return unreachable(e.code);
    }
  }
  const text = read.value.toString('utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locator = new Locator(file, doc, lines);
  const diags: Diagnostic[] = [];
  const at = (offset: number | undefined): { line: number; column: number } => {
    const pos = lines.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  for (const e of doc.errors) {
    diags.push({
      severity: 'error',
      code: 'yaml-syntax',
      file,
      ...at(e.pos[0]),
      path: '(syntax)',
      message: e.message.split('\n')[0] ?? e.message,
      hint: 'fix the YAML syntax (indentation, a missing colon, or an unclosed quote or bracket)',
    });
  }
  if (diags.length > 0) return err(diags);
  diags.push(...checkYamlNodes(doc, file, at));
  if (diags.length > 0) return err(diags);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    // checkYamlNodes found unresolved aliases already; what is left is the expansion bound
    const first = firstAlias(doc);
    return err([
      {
        severity: 'error',
        code: 'yaml-alias',
        file,
        ...at(first?.range?.[0]),
        path: '(aliases)',
        message: `the YAML aliases expand too far (${e instanceof Error ? e.message : String(e)}; at most ${MAX_YAML_ALIASES} alias expansions)`,
        hint: 'write the values out, or use fewer `*alias` references (an alias of an alias multiplies)',
      },
    ]);
  }
  const parsed = PipelineSpec.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) diags.push(...issueToDiagnostics(locator, issue, raw));
    return err(diags);
  }
  const keys = keySetFor(parsed.data.llamafactory.version);
  if (!keys.ok) return err([locator.diag('llamafactory-version', ['llamafactory', 'version'], keys.error.message, keys.error.hint)]);
  const pipeline: Pipeline = { file, baseDir: dirname(abs), spec: parsed.data, locator, keySet: keys.value };
  diags.push(...checkArgs(pipeline), ...checkStages(pipeline.spec, pipeline.locator));
  if (diags.some((d) => d.severity === 'error')) return err(diags);
  return ok(pipeline);
}

function issueToDiagnostics(loc: Locator, issue: z.core.$ZodIssue, raw: unknown): Diagnostic[] {
  const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(path, raw);
    return issue.keys.map((k) => {
      const guess = suggestFrom(allowed, k);
      return loc.diag('schema', [...path, k], `unknown field "${k}"`, guess ? `did you mean "${guess}"?` : `allowed here: ${allowed.join(', ') || '(see README "Pipeline format")'}`, {
        key: true,
        value: null,
      });
    });
  }
  if (issue.code === 'invalid_union' && 'errors' in issue && Array.isArray(issue.errors)) {
    // Report the branch that got furthest, rather than zod's bare "Invalid input".
    const branches = issue.errors as z.core.$ZodIssue[][];
    const best = branches.filter((b) => b.length > 0).sort((a, b) => depth(b) - depth(a))[0];
    if (best && best.length > 0 && depth(best) > 0) {
      return best.flatMap((sub) => issueToDiagnostics(loc, { ...sub, path: [...issue.path, ...sub.path] } as z.core.$ZodIssue, raw));
    }
  }
  if (issue.code === 'invalid_union' && path[0] === 'stages' && path.length === 2) {
    return [loc.diag('schema', [...path, 'kind'], 'a stage needs `kind: train`, `kind: command` or `kind: serve`', 'add `kind: train` (with stage, model, datasets), `kind: command` (with command) or `kind: serve` (with engine, model)')];
  }
  const hint = hintAt(path, issue) ?? hintFor(issue);
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  return [loc.diag('schema', path, missing ? `required field "${String(path[path.length - 1])}" is missing` : issue.message, hint, missing ? { value: null } : {})];
}

function depth(issues: z.core.$ZodIssue[]): number {
  return Math.max(...issues.map((i) => i.path.length + (i.code === 'unrecognized_keys' ? 0 : 0.5)));
}

/** Fixes for fields whose rule the zod message states but does not show how to satisfy. */
function hintAt(path: readonly PathSegment[], issue: z.core.$ZodIssue): string | undefined {
  if (issue.message.includes('reserved by JavaScript')) return 'choose another name (__proto__, constructor and prototype are reserved)';
  if (path[path.length - 1] === 'image') return 'pin a version tag or a digest, e.g. hiyouga/llamafactory:0.9.5';
  if (path[0] === 'stages' && path[2] === 'rounds') return `write \`all\`, a list of rounds such as [1, 2] (each at most ${MAX_ROUNDS}), or a range {from: 1, to: 3} with from <= to`;
  return undefined;
}

function hintFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `write ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected} here`;
    case 'invalid_value':
      return `use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return 'this list or value is too small; see README "Pipeline format"';
    case 'invalid_format':
      return issue.message;
    default:
      return 'see README "Pipeline format" for this field';
  }
}

const KNOWN_FIELDS: Record<string, string[]> = {
  '': Object.keys(PipelineSpec.shape),
};

function allowedKeysAt(path: readonly PathSegment[], raw: unknown): string[] {
  if (path.length === 0) return KNOWN_FIELDS[''] ?? [];
  if (path[0] === 'stages' && path.length === 2) {
    const stage = (raw as { stages?: Record<string, unknown>[] }).stages?.[path[1] as number];
    const common = ['id', 'kind', 'rounds', 'gpus', 'image', 'after', 'slurm', 'env'];
    if (stage?.['kind'] === 'command') return [...common, 'command', 'inputs', 'endpoints', 'outputs', 'workdir'];
    if (stage?.['kind'] === 'serve') return [...common, 'engine', 'model', 'template', 'served_name', 'args', 'ready_timeout_seconds'];
    return [...common, 'stage', 'model', 'ref_model', 'datasets', 'args', 'deepspeed'];
  }
  if (path[0] === 'datasets' && path.length === 2) {
    return ['path', 'source', 'formatting', 'ranking', 'columns', 'tags', 'num_samples', 'split', 'hf_hub_id'];
  }
  return [];
}

/** Every LLaMA-Factory argument in `defaults` and in each stage's `args`: known key, right type. */
function checkArgs(p: Pipeline): Diagnostic[] {
  const out: Diagnostic[] = [];
  const check = (args: Record<string, unknown>, at: PathSegment[]) => {
    for (const [key, value] of Object.entries(args)) {
      const path = [...at, key];
      const managed = own(MANAGED_KEYS, key);
      if (managed !== undefined) {
        out.push(p.locator.diag('managed-key', path, `"${key}" is set by flux-train`, managed, { key: true, value: null }));
        continue;
      }
      const info = p.keySet.keys.get(key);
      if (!info) {
        const guess = suggestKey(p.keySet, key);
        out.push(
          p.locator.diag(
            'unknown-key',
            path,
            `"${key}" is not a LLaMA-Factory argument (LLaMA-Factory ${p.keySet.source.version} stops with "Some keys are not used by the HfArgumentParser")`,
            guess
              ? `did you mean "${guess}"?`
              : 'remove it, or set `allow_extra_args: true` to pass unknown keys with ALLOW_EXTRA_ARGS=1 (they are then ignored by LLaMA-Factory)',
            { key: true, value: null, severity: p.spec.allow_extra_args && !guess ? 'warning' : 'error' },
          ),
        );
        continue;
      }
      if (info.onlyIn === '4.x' && key !== 'overwrite_output_dir') {
        out.push(
          p.locator.diag('version-key', path, `"${key}" exists only in transformers 4.x; the pinned image may reject it`, 'remove it unless your image ships transformers 4.x', {
            key: true,
            value: null,
            severity: 'warning',
          }),
        );
      }
      if (key === 'deepspeed') {
        // a preset name or a path, resolved and read in plan.ts; LLaMA-Factory's inline dict is not offered
        if (value !== null && typeof value !== 'string') {
          out.push(p.locator.diag('arg-type', path, `deepspeed: expected a preset name or a path, got ${Array.isArray(value) ? 'a list' : typeof value}`, 'write z2, z3, z3_offload or the path of a DeepSpeed JSON file relative to the pipeline file'));
        }
        continue;
      }
      const problem = checkValueType(info, value);
      if (problem === undefined && typeof value === 'number') {
        const range = checkRange(key, value);
        if (range) out.push(p.locator.diag('arg-range', path, range.problem, range.fix));
        continue;
      }
      if (problem) {
        const fix =
          typeof value === 'string' && /^(true|false)$/i.test(value)
            ? `write ${value.toLowerCase()} without quotes`
            : typeof value === 'string' && !Number.isNaN(Number(value))
              ? `write ${value} without quotes`
              : info.choices
                ? `use one of: ${info.choices.join(', ')}`
                : `give a value of type ${info.type}`;
        out.push(p.locator.diag('arg-type', path, `${key}: ${problem}`, fix));
      }
    }
  };
  check(p.spec.defaults, ['defaults']);
  p.spec.stages.forEach((s, i) => {
    if (s.kind === 'train') check(s.args, ['stages', i, 'args']);
  });
  return out;
}
