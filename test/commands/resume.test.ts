import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keptOptions } from '../../src/commands/resume.js';

describe('resume', () => {
  it('keeps the plan options of the round it continues, never the ones that select reruns', () => {
    assert.deepEqual(
      keptOptions(['--n', '3', '-p', 'pipelines/x.yaml', '--gpus', '0,1', '--image=i:1', '--only', 'a,b', '--only', 'c', '--restart-stage', 'a', '--from', 'b', '--hash-data', '--grace', '5']),
      { pipeline: 'pipelines/x.yaml', gpus: '0,1', image: 'i:1', only: ['a', 'b', 'c'], hashData: true },
    );
    assert.deepEqual(keptOptions(['--gpus', '2']), { gpus: 2 });
    assert.deepEqual(keptOptions(['--gpus', 'bogus']), {});
  });
});
