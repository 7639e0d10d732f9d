import type { RunState } from '../state/state.js';
import type { GraphEdge, GraphNode, NodeStatus, StageGraph } from './model.js';

/** r<round>/<id> into its parts; undefined for a key that is not one. */
export function splitKey(key: string): { round: number; id: string } | undefined {
  const m = /^r(\d+)\/(.+)$/.exec(key);
  return m ? { round: Number(m[1]), id: m[2] as string } : undefined;
}

/**
 * The stage graph across rounds, from the fingerprint fields each stage instance recorded: `model`
 * (and `ref_model`) name the checkpoint it starts from, `dep.<key>` every instance it waits for (a
 * dependency that is not its model is data, such as preference pairs a command stage sampled).
 */
export function buildGraph(s: RunState, order: string[], planned: Map<string, Record<string, string>>): StageGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const bases = new Map<string, string[]>();
  const ids: string[] = [];
  const rounds = new Set<number>();
  for (const key of order) {
    const k = splitKey(key);
    if (!k) continue;
    if (!ids.includes(k.id)) ids.push(k.id);
    rounds.add(k.round);
    const st = s.stages[key];
    nodes.push({ key, id: k.id, round: k.round, status: (st?.status ?? 'pending') as NodeStatus });
    const fields = st?.fields ?? planned.get(key) ?? {};
    const models = new Set<string>();
    for (const f of ['model', 'ref_model']) {
      const v = fields[f];
      if (v?.startsWith('stage:')) {
        const from = v.slice('stage:'.length);
        models.add(from);
        if (!edges.some((e) => e.from === from && e.to === key)) edges.push({ from, to: key, kind: 'model' });
      } else if (v?.startsWith('base:')) {
        const ref = v.slice('base:'.length);
        bases.set(ref, [...(bases.get(ref) ?? []), key]);
      }
    }
    for (const name of Object.keys(fields)) {
      if (!name.startsWith('dep.')) continue;
      const from = name.slice('dep.'.length);
      if (!models.has(from)) edges.push({ from, to: key, kind: 'data' });
    }
  }
  return { ids, rounds: [...rounds].sort((a, b) => a - b), nodes, edges, bases: [...bases.entries()].map(([ref, keys]) => ({ ref, keys })) };
}
