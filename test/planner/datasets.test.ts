import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatasetTable } from '../../src/planner/datasets.js';

describe('DatasetTable', () => {
  it('keeps the declared name for the first file, names a later round\'s own file <name>_r<round>, and reuses names per file', () => {
    const t = new DatasetTable();
    assert.equal(t.nameFor('/d/dpo.jsonl', 'dpo', 1), 'dpo');
    t.info['dpo'] = { file_name: '/d/dpo.jsonl' };
    assert.equal(t.nameFor('/d/round2/dpo.jsonl', 'dpo', 2), 'dpo_r2');
    assert.equal(t.nameFor('/d/dpo.jsonl', 'dpo', 3), 'dpo', 'the same file keeps its name in every round');
  });

  it('checks each file once', () => {
    const t = new DatasetTable();
    assert.equal(t.firstCheck('/d/a.jsonl'), true);
    assert.equal(t.firstCheck('/d/a.jsonl'), false);
    assert.equal(t.firstCheck('/d/b.jsonl'), true);
  });
});
