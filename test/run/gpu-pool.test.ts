import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandGpuIds } from '../../src/pipeline/gpus.js';
import { GpuPool, withOwnMasterPort } from '../../src/run/gpu-pool.js';
import { parseGpus } from '../../src/commands/context.js';

describe('the GPU pool', () => {
  it('a count, ids or ranges: requests get disjoint ids, and released ids are handed out again', () => {
    const pool = new GpuPool(4);
    assert.deepEqual(pool.request('a', 2), { kind: 'granted', gpus: '0,1' });
    assert.deepEqual(pool.request('b', '1,2'), { kind: 'wait' });
    assert.deepEqual(pool.request('c', '2'), { kind: 'granted', gpus: '2' });
    assert.deepEqual(pool.request('d', 2), { kind: 'wait' });
    assert.deepEqual(pool.request('e', 'all'), { kind: 'wait' });
    pool.release('a');
    assert.deepEqual(pool.request('d', 2), { kind: 'granted', gpus: '0,1' });
    assert.deepEqual(pool.free, [3]);
  });

  it('says never for a request the pool can never meet, naming the pool', () => {
    const pool = new GpuPool('0,1,2,3');
    assert.match((pool.request('a', 5) as { why: string }).why, /asks for 5 GPUs and the pool \(--gpus 0,1,2,3\) has 4/);
    assert.match((pool.request('a', '4,5') as { why: string }).why, /GPU 4, 5, which is not in the pool/);
  });

  it('`all` (size unknown) goes to one GPU stage at a time; `none` and CPU stages share nothing', () => {
    const all = new GpuPool('all');
    assert.deepEqual(all.request('a', 2), { kind: 'granted', gpus: undefined });
    assert.deepEqual(all.request('b', 'all'), { kind: 'wait' });
    assert.deepEqual(all.request('c', 'none'), { kind: 'granted', gpus: undefined });
    all.release('a');
    assert.deepEqual(all.request('b', 'all'), { kind: 'granted', gpus: undefined });
    const none = new GpuPool('none');
    assert.deepEqual(none.request('a', 'none'), { kind: 'granted', gpus: undefined });
    assert.deepEqual(none.request('b', 'none'), { kind: 'granted', gpus: undefined });
  });

  it('ranges expand to plain ids for the CLI and the pipeline', () => {
    assert.equal(expandGpuIds('0-3,6'), '0,1,2,3,6');
    assert.equal(expandGpuIds('3-1'), '1,2,3');
    assert.equal(parseGpus('0-7'), '0,1,2,3,4,5,6,7');
    assert.equal(parseGpus('0,1,2,3'), '0,1,2,3');
    assert.equal(parseGpus('4'), 4);
    assert.throws(() => parseGpus('0-'), /--gpus "0-" is not all, none, a count, a list of ids or a range/);
  });

  it("gives each instance holding GPUs its own torchrun port, so two trainings on one host never collide", () => {
    const env = { MASTER_PORT: '29500', FORCE_TORCHRUN: '1' };
    assert.equal(withOwnMasterPort(env, '2,3').MASTER_PORT, '29502');
    assert.equal(withOwnMasterPort(env, '0,1').MASTER_PORT, '29500');
    assert.equal(withOwnMasterPort(env, undefined), env);
    assert.deepEqual(withOwnMasterPort({ A: '1' }, '4'), { A: '1' });
  });
});
