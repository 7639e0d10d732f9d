import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { graphSection } from '../../src/report/graph-svg.js';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe('report graph drawing', () => {
  it('one box per instance and base model, one arrow per hand-off, data dashed', () => {
    const html = graphSection({
      ids: ['sft', 'dpo', 'sample'],
      rounds: [1, 2],
      nodes: [
        { key: 'r1/sft', id: 'sft', round: 1, status: 'done' },
        { key: 'r1/dpo', id: 'dpo', round: 1, status: 'done' },
        { key: 'r1/sample', id: 'sample', round: 1, status: 'failed' },
        { key: 'r2/dpo', id: 'dpo', round: 2, status: 'pending' },
      ],
      edges: [
        { from: 'r1/sft', to: 'r1/dpo', kind: 'model' },
        { from: 'r1/sft', to: 'r1/sample', kind: 'data' },
        { from: 'r1/dpo', to: 'r2/dpo', kind: 'model' },
        { from: 'r1/sample', to: 'r2/dpo', kind: 'data' },
      ],
      bases: [{ ref: '/models/Qwen3-8B', keys: ['r1/sft'] }],
    });
    assert.equal(count(html, /<g class="node">/g), 4);
    assert.equal(count(html, /<g class="node base">/g), 1);
    assert.match(html, />Qwen3-8B</);
    assert.equal(count(html, /class="edge model"/g), 3, 'two hand-offs and the base model');
    assert.equal(count(html, /class="edge data"/g), 2);
    assert.match(html, /r2\/dpo starts from the model r1\/dpo trained/);
    assert.match(html, />round 1<.*>round 2</s);
    assert.equal(graphSection({ ids: [], rounds: [], nodes: [], edges: [], bases: [] }), '');
  });
});
