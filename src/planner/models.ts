import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Diagnostic, Locator, PathSegment } from '../pipeline/diagnostics.js';
import type { ModelInput } from '../pipeline/plan-types.js';
import type { ModelSource } from '../pipeline/schema.js';
import { suggestFrom } from '../llamafactory/keys.js';
import { own } from '../util/own.js';
import type { StageCatalog } from './catalog.js';
import { outputDirOf, stageKey } from './keys.js';

/** What resolving model references needs: the declared base models and the stages. */
export interface ModelScope {
  models: Record<string, string>;
  baseDir: string;
  runDir: string;
  catalog: StageCatalog;
  loc: Locator;
}

export type ModelRef = ModelSource | { base: string } | { stage: string; round: 'same' | 'previous' };

/** A model reference of stage `owner` in `round`: a base model, or the output of a train stage instance. */
export function resolveModel(scope: ModelScope, src: ModelRef, round: number, owner: string, at: PathSegment[]): { model?: ModelInput; diags: Diagnostic[] } {
  if ('base' in src) return resolveBase(scope, src.base, at);
  const { catalog, loc } = scope;
  const target = catalog.byId.get(src.stage);
  if (!target) {
    const guess = suggestFrom(catalog.ids, src.stage);
    return { diags: [loc.diag('reference', [...at, 'stage'], `stage "${owner}" takes its model from unknown stage "${src.stage}"`, guess ? `did you mean "${guess}"?` : `use one of: ${catalog.ids.join(', ')}`)] };
  }
  if (target.spec.kind !== 'train') {
    return { diags: [loc.diag('reference', [...at, 'stage'], `"${src.stage}" is a ${target.spec.kind} stage; its output is not a model`, 'take the model from a train stage, or a base model')] };
  }
  const targetRound = src.round === 'previous' ? round - 1 : round;
  if (targetRound >= 1 && catalog.runsIn(src.stage, targetRound)) {
    return { model: { kind: 'stage', key: stageKey(targetRound, src.stage), hostPath: outputDirOf(scope.runDir, targetRound, src.stage) }, diags: [] };
  }
  if ('fallback' in src && src.fallback) return resolveModel(scope, src.fallback, round, owner, [...at, 'fallback']);
  const when = src.round === 'previous' ? `the previous round (${targetRound})` : `round ${round}`;
  const hint =
    src.round === 'previous'
      ? 'add `fallback: {stage: ...}` or `fallback: {base: ...}` for the first round, or change the rounds of either stage'
      : `make "${src.stage}" run in round ${round} (its \`rounds:\`), or take the model from the previous round`;
  return { diags: [loc.diag('reference', [...at, 'stage'], `stage "${owner}" in round ${round} takes its model from "${src.stage}" in ${when}, but "${src.stage}" does not run there`, hint)] };
}

function resolveBase(scope: ModelScope, name: string, at: PathSegment[]): { model?: ModelInput; diags: Diagnostic[] } {
  const { models, loc } = scope;
  const ref = own(models, name);
  if (ref === undefined) {
    const declared = Object.keys(models);
    const guess = suggestFrom(declared, name);
    return { diags: [loc.diag('reference', [...at, 'base'], `unknown base model "${name}"`, guess ? `did you mean "${guess}"? (declared under \`models:\`)` : `declare it under \`models:\` (declared: ${declared.join(', ')})`)] };
  }
  const looksLocal = ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || existsSync(resolve(scope.baseDir, ref));
  return { model: looksLocal ? { kind: 'base', name, ref: resolve(scope.baseDir, ref), local: true } : { kind: 'base', name, ref, local: false }, diags: [] };
}
