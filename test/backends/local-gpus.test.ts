import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Rig } from '../helpers/rig.js';
import { standinEnv } from '../helpers/standin-env.js';

const TRAINS = ['proposer_sft', 'proposer_dpo', 'reasoner_dpo'];

describe('local backend with a pool of fake GPU ids (--gpus 0,1,2,3, stages asking for 2 each)', () => {
  const rig = new Rig('local-gpus');
  after(() => rig.cleanup());

  it('gives every training its own CUDA_VISIBLE_DEVICES, never overlapping while they run at once', async () => {
    // every train stage asks for 2 GPUs; the pipeline's own `gpus: none` would leave every stage without any
    await rig.demo((y) => y.replace('gpus: none\n', '').replace(/(\n {4}kind: train\n)/g, '$1    gpus: 2\n'));
    const { env, keys } = await standinEnv(rig);
    rig.write('run/standin-control/.keep', '');
    for (const k of ['r1/proposer_sft', 'r1/reasoner_dpo', 'r1/proposer_dpo', 'r2/proposer_dpo', 'r2/reasoner_dpo']) rig.control(k, 'step_ms=300');
    const r = await rig.cli(
      ['round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--backend', 'local', '--local-env', env, '--gpus', '0,1,2,3', '--max-parallel', '4'],
      { STANDIN_KEYS: keys },
      300_000,
    );
    assert.equal(r.exitCode, 0, r.all);
    const p = join(rig.runDir, 'standin-control', 'ledger');
    assert.ok(existsSync(p));
    const lines = readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
    const keysTrained = [...new Set(lines.filter((l) => l[0] === 'launch').map((l) => l[1] as string))];
    assert.deepEqual(keysTrained.sort(), ['r1-proposer_dpo', 'r1-proposer_sft', 'r1-reasoner_dpo', 'r2-proposer_dpo', 'r2-reasoner_dpo']);
    const spans = keysTrained.map((k) => ({
      k,
      gpus: (lines.find((l) => l[0] === 'gpus' && l[1] === k)?.[2] ?? '').split(','),
      from: Number(lines.find((l) => l[0] === 'launch' && l[1] === k)?.[2]),
      to: Number(lines.find((l) => l[0] === 'finish' && l[1] === k)?.[2]),
    }));
    for (const s of spans) {
      assert.equal(s.gpus.length, 2, `${s.k} sees ${s.gpus.join(',')}`);
      for (const g of s.gpus) assert.ok(['0', '1', '2', '3'].includes(g), `${s.k} sees GPU ${g}, outside the pool`);
    }
    let overlapping = 0;
    for (const a of spans) {
      for (const b of spans) {
        if (a.k >= b.k || !(a.from < b.to && b.from < a.to)) continue;
        overlapping++;
        assert.deepEqual(a.gpus.filter((g) => b.gpus.includes(g)), [], `${a.k} and ${b.k} ran at once on the same GPU`);
      }
    }
    assert.ok(overlapping >= 1, `no two trainings ran at once: ${JSON.stringify(spans)}`);
    for (const st of TRAINS) assert.ok(existsSync(join(rig.runDir, 'outputs', 'r1', st, 'train_results.json')));
  });
});
