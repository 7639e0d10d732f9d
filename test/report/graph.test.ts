import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildGraph, splitKey } from '../../src/report/graph.js';
import { emptyState } from '../../src/state/state.js';

describe('report graph: stages across rounds with model hand-offs', () => {
  it('draws model edges from `model`/`ref_model`, data edges from other dependencies, base models apart', () => {
    const s = emptyState();
    s.stages['r1/sft'] = { key: 'r1/sft', status: 'done', attempts: [], fields: { model: 'base:/m/tiny' } };
    s.stages['r1/dpo'] = { key: 'r1/dpo', status: 'failed', attempts: [], fields: { model: 'stage:r1/sft', ref_model: 'base:/m/tiny', 'dep.r1/sft': 'x' } };
    s.stages['r1/sample'] = { key: 'r1/sample', status: 'done', attempts: [], fields: { kind: 'command', 'dep.r1/dpo': 'x' } };
    const planned = new Map([['r2/dpo', { model: 'stage:r1/dpo', 'dep.r1/dpo': 'x', 'dep.r1/sample': 'y' }]]);
    const g = buildGraph(s, ['r1/sft', 'r1/dpo', 'r1/sample', 'r2/dpo'], planned);
    assert.deepEqual(g.ids, ['sft', 'dpo', 'sample']);
    assert.deepEqual(g.rounds, [1, 2]);
    assert.deepEqual(g.nodes.map((n) => [n.key, n.status]), [['r1/sft', 'done'], ['r1/dpo', 'failed'], ['r1/sample', 'done'], ['r2/dpo', 'pending']]);
    assert.deepEqual(g.edges, [
      { from: 'r1/sft', to: 'r1/dpo', kind: 'model' },
      { from: 'r1/dpo', to: 'r1/sample', kind: 'data' },
      { from: 'r1/dpo', to: 'r2/dpo', kind: 'model' },
      { from: 'r1/sample', to: 'r2/dpo', kind: 'data' },
    ]);
    assert.deepEqual(g.bases, [{ ref: '/m/tiny', keys: ['r1/sft', 'r1/dpo'] }]);
  });

  it('splits keys', () => {
    assert.deepEqual(splitKey('r12/reasoner_dpo'), { round: 12, id: 'reasoner_dpo' });
    assert.equal(splitKey('reasoner_dpo'), undefined);
  });
});
