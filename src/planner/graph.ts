import type { Diagnostic, Locator } from '../pipeline/diagnostics.js';
import type { DatasetSpec, ModelSource, StageSpec } from '../pipeline/schema.js';
import { suggestFrom } from '../llamafactory/keys.js';
import { own } from '../util/own.js';
import { err, ok, type Result } from '../util/result.js';
import type { StageCatalog } from './catalog.js';

/**
 * Step 2: the order of stages inside a round, from the same-round references (`after`, models and
 * datasets with `round: same`). Unknown names in `after` are reported; a cycle ends planning.
 */
export function sameRoundOrder(catalog: StageCatalog, datasets: Record<string, DatasetSpec>, loc: Locator): { order: Result<string[], Diagnostic>; diags: Diagnostic[] } {
  const diags: Diagnostic[] = [];
  const deps = new Map<string, Set<string>>();
  for (const [id, { spec: s, index }] of catalog.byId) {
    deps.set(id, sameRoundInputs(s, datasets));
    s.after.forEach((a, j) => {
      if (!catalog.byId.has(a)) {
        const guess = suggestFrom(catalog.ids, a);
        diags.push(loc.diag('reference', ['stages', index, 'after', j], `unknown stage "${a}" in after`, guess ? `did you mean "${guess}"?` : 'name a stage id'));
      }
    });
  }
  const order = topoOrder(deps);
  if (order.ok) return { order, diags };
  const cycle = order.error;
  const first = catalog.byId.get(cycle[0] as string);
  const d = loc.diag('cycle', ['stages', first?.index ?? 0, 'id'], `stages depend on each other in a cycle: ${cycle.join(' -> ')}`, 'break the cycle: one of them must take its input from the previous round (`round: previous`)');
  return { order: err(d), diags };
}

function sameRoundInputs(s: StageSpec, datasets: Record<string, DatasetSpec>): Set<string> {
  const deps = new Set<string>(s.after);
  const addSrc = (src: ModelSource | undefined) => {
    if (src && 'stage' in src && src.round === 'same') deps.add(src.stage);
    if (src && 'stage' in src && src.fallback && 'stage' in src.fallback && src.fallback.round === 'same') deps.add(src.fallback.stage);
  };
  if (s.kind === 'train') {
    addSrc(s.model);
    addSrc(s.ref_model);
    for (const dn of s.datasets) {
      const d = own(datasets, dn);
      for (const src of Object.values(d?.source ?? {})) if (typeof src === 'object' && 'stage' in src && src.round === 'same') deps.add(src.stage);
    }
  } else if (s.kind === 'serve') addSrc(s.model);
  else {
    for (const src of Object.values(s.inputs)) addSrc(src);
    // a consumer runs while its servers serve: they come first in the round
    for (const serve of Object.values(s.endpoints)) deps.add(serve);
  }
  return deps;
}

/** Depth-first topological order; a cycle comes back as the ids along it, first id repeated at the end. */
export function topoOrder(deps: Map<string, Set<string>>): Result<string[], string[]> {
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    const st = state.get(id);
    if (st === 'done') return undefined;
    if (st === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of deps.get(id) ?? []) {
      if (!deps.has(d)) continue;
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(id, 'done');
    out.push(id);
    return undefined;
  };
  for (const id of deps.keys()) {
    const c = visit(id);
    if (c) return err(c);
  }
  return ok(out);
}
