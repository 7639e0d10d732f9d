import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { topoOrder } from '../../src/planner/graph.js';

const deps = (o: Record<string, string[]>) => new Map(Object.entries(o).map(([k, v]) => [k, new Set(v)]));

describe('topoOrder', () => {
  it('puts every stage after the stages it reads, keeping declaration order otherwise', () => {
    const r = topoOrder(deps({ a: ['c'], b: [], c: ['b'], d: [] }));
    assert.deepEqual(r, { ok: true, value: ['b', 'c', 'a', 'd'] });
  });

  it('ignores names that are not stages (reported elsewhere as unknown)', () => {
    assert.deepEqual(topoOrder(deps({ a: ['ghost'] })), { ok: true, value: ['a'] });
  });

  it('returns a cycle as the ids along it, the first repeated at the end', () => {
    const r = topoOrder(deps({ a: ['b'], b: ['c'], c: ['a'], d: [] }));
    assert.deepEqual(r, { ok: false, error: ['a', 'b', 'c', 'a'] });
  });
});
