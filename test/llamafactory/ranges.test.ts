import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ARG_RANGES, checkRange } from '../../src/llamafactory/ranges.js';
import { loadKeySet } from '../../src/llamafactory/keys.js';

describe('numeric argument ranges', () => {
  it('refuses non-finite values for any numeric argument', () => {
    for (const v of [Number.NaN, Infinity, -Infinity]) {
      assert.match(checkRange('learning_rate', v)?.problem ?? '', /finite/);
      assert.match(checkRange('some_unlisted_float', v)?.problem ?? '', /finite/);
    }
  });
  it('checks the bounds, exclusive where a zero is meaningless, with the allowed extras', () => {
    assert.equal(checkRange('learning_rate', 5e-7), undefined);
    assert.ok(checkRange('learning_rate', 0));
    assert.ok(checkRange('num_train_epochs', 1e12));
    assert.equal(checkRange('max_steps', -1), undefined);
    assert.ok(checkRange('max_steps', -2));
    assert.equal(checkRange('warmup_steps', 0), undefined);
    assert.match(checkRange('per_device_train_batch_size', 0)?.fix ?? '', /from 1 up to 65536/);
  });
  it('names only keys that exist in the 0.9.5 key set', () => {
    const ks = loadKeySet();
    for (const k of ARG_RANGES.keys()) assert.ok(ks.keys.has(k), k);
  });
});
