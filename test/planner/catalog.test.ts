import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roundsOf } from '../../src/planner/catalog.js';

describe('roundsOf', () => {
  it('reads all, a list and a range against --n', () => {
    assert.deepEqual(roundsOf('all', 3), [1, 2, 3]);
    assert.deepEqual(roundsOf([1, 3, 7], 4), [1, 3]);
    assert.deepEqual(roundsOf({ from: 2 }, 4), [2, 3, 4]);
    assert.deepEqual(roundsOf({ from: 2, to: 3 }, 5), [2, 3]);
    assert.deepEqual(roundsOf({ from: 5 }, 3), []);
  });
});
