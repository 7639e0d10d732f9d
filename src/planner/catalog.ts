import type { Diagnostic, Locator } from '../pipeline/diagnostics.js';
import type { RoundsSpec, StageSpec } from '../pipeline/schema.js';

/** A declared stage with its place in the file and the rounds it runs in. */
export interface CatalogEntry {
  spec: StageSpec;
  index: number;
  rounds: number[];
}

/** The pipeline's stages by id (first declaration wins), for lookups by every later step. */
export class StageCatalog {
  constructor(readonly byId: ReadonlyMap<string, CatalogEntry>) {}

  get ids(): string[] {
    return [...this.byId.keys()];
  }

  runsIn(id: string, round: number): boolean {
    return this.byId.get(id)?.rounds.includes(round) ?? false;
  }
}

export function roundsOf(spec: RoundsSpec, n: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i + 1);
  if (spec === 'all') return all;
  if (Array.isArray(spec)) return all.filter((r) => spec.includes(r));
  return all.filter((r) => r >= spec.from && (spec.to === undefined || r <= spec.to));
}

/** Step 1: ids and rounds. A duplicate id is an error; the first declaration is kept. */
export function catalogStages(stages: StageSpec[], rounds: number, loc: Locator): { catalog: StageCatalog; diags: Diagnostic[] } {
  const diags: Diagnostic[] = [];
  const byId = new Map<string, CatalogEntry>();
  stages.forEach((s, i) => {
    if (byId.has(s.id)) {
      diags.push(loc.diag('duplicate-id', ['stages', i, 'id'], `stage id "${s.id}" is used twice`, 'give every stage a unique id'));
    } else byId.set(s.id, { spec: s, index: i, rounds: roundsOf(s.rounds, rounds) });
  });
  return { catalog: new StageCatalog(byId), diags };
}

/** A stage with no instance at all is suspicious (one referenced through `after` in a round it skips is fine). */
export function stagesWithoutRounds(catalog: StageCatalog, rounds: number, loc: Locator): Diagnostic[] {
  return [...catalog.byId]
    .filter(([, e]) => e.rounds.length === 0)
    .map(([id, e]) => loc.diag('rounds', ['stages', e.index, 'rounds'], `stage "${id}" runs in none of rounds 1..${rounds}`, 'check its `rounds:` against --n', { severity: 'warning' }));
}
