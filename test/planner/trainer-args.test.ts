import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gpuCount, launcherEnv } from '../../src/planner/trainer-args.js';

describe('launcherEnv', () => {
  it('uses torchrun for DeepSpeed even on one GPU, and for more than one GPU', () => {
    assert.deepEqual(launcherEnv(1, false, false), {});
    assert.deepEqual(launcherEnv(1, true, false), { FORCE_TORCHRUN: '1', MASTER_PORT: '29500', NPROC_PER_NODE: '1' });
    assert.deepEqual(launcherEnv('0,1,2', false, false), { FORCE_TORCHRUN: '1', MASTER_PORT: '29500', NPROC_PER_NODE: '3' });
    // all GPUs: the count is the launcher's to find
    assert.deepEqual(launcherEnv('all', false, false), { FORCE_TORCHRUN: '1', MASTER_PORT: '29500' });
  });

  it('runs a CPU stage without torchrun unless DeepSpeed asks for it, and passes ALLOW_EXTRA_ARGS through', () => {
    assert.deepEqual(launcherEnv('none', false, true), { ALLOW_EXTRA_ARGS: '1' });
    assert.deepEqual(launcherEnv('none', true, false), { FORCE_TORCHRUN: '1', MASTER_PORT: '29500', NPROC_PER_NODE: '1' });
  });

  it('counts GPUs', () => {
    assert.equal(gpuCount('none'), 0);
    assert.equal(gpuCount('all'), undefined);
    assert.equal(gpuCount(4), 4);
    assert.equal(gpuCount('2,5'), 2);
  });
});
