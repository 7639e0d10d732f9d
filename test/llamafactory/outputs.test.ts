import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { appendFileSync } from 'node:fs';
import { checkpointProblem, listCheckpoints, manifestDrift, missingFinishedFiles, outputManifest } from '../../src/llamafactory/outputs.js';
import { TrainerLogTail } from '../../src/llamafactory/trainer-log.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('outputs');
after(() => rig.cleanup());

function ckpt(dir: string, step: number, opts: { state?: string; weights?: boolean; optimizer?: boolean } = {}): void {
  rig.write(`${dir}/checkpoint-${step}/trainer_state.json`, opts.state ?? JSON.stringify({ global_step: step }));
  if (opts.weights !== false) rig.write(`${dir}/checkpoint-${step}/model.safetensors`, 'w');
  if (opts.optimizer !== false) rig.write(`${dir}/checkpoint-${step}/optimizer.pt`, 'o');
}

describe('checkpoints', () => {
  it('validates newest first and says what is wrong', () => {
    ckpt('a', 100);
    ckpt('a', 200);
    ckpt('a', 300, { state: '{"global_st' });
    ckpt('a', 400, { optimizer: false });
    ckpt('a', 500, { state: JSON.stringify({ global_step: 499 }) });
    const cps = listCheckpoints(rig.path('a'));
    assert.deepEqual(cps.map((c) => [c.step, c.valid]), [[500, false], [400, false], [300, false], [200, true], [100, true]]);
    assert.match(cps[0]?.problem ?? '', /global_step 499/);
    assert.match(cps[1]?.problem ?? '', /optimizer/);
    assert.match(cps[2]?.problem ?? '', /does not parse/);
  });

  it('accepts DeepSpeed checkpoints by their global_step folder', () => {
    rig.write('ds/checkpoint-10/trainer_state.json', JSON.stringify({ global_step: 10 }));
    rig.write('ds/checkpoint-10/global_step10/zero_pp_rank_0_mp_rank_00_optim_states.pt', 'x');
    rig.write('ds/checkpoint-10/latest', 'global_step10');
    assert.equal(checkpointProblem(rig.path('ds/checkpoint-10'), 10), undefined);
  });

  it('knows a finished output dir, including sharded weights', () => {
    assert.deepEqual(missingFinishedFiles(rig.path('nothing')).length, 4);
    for (const f of ['train_results.json', 'trainer_state.json', 'config.json']) rig.write(`done/${f}`, '{}');
    rig.write('done/model.safetensors.index.json', JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
    rig.write('done/model-00001-of-00002.safetensors', 'x');
    assert.deepEqual(missingFinishedFiles(rig.path('done')), ['weights (model*.safetensors or adapter_model.safetensors)']);
    rig.write('done/model-00002-of-00002.safetensors', 'x');
    assert.deepEqual(missingFinishedFiles(rig.path('done')), []);
    const m = outputManifest(rig.path('done'));
    assert.deepEqual(manifestDrift(rig.path('done'), m), []);
    rig.write('done/model-00002-of-00002.safetensors', 'changed');
    assert.match(manifestDrift(rig.path('done'), m).join(), /changed size/);
  });
});

describe('trainer_log.jsonl', () => {
  it('follows a growing file and tolerates a partial last line', () => {
    const p = rig.write('log/trainer_log.jsonl', '');
    const tail = new TrainerLogTail(p);
    assert.deepEqual(tail.poll(), []);
    appendFileSync(p, '{"current_steps": 5, "total_steps": 275, "loss": 0.5, "lr": 3.5e-06, "epoch": 0.09, "percentage": 1.82, "elapsed_time": "0:00:47", "remaining_time": "0:42:32"}\n{"current_st');
    const a = tail.poll();
    assert.equal(a.length, 1);
    assert.equal(a[0]?.loss, 0.5);
    appendFileSync(p, 'eps": 10, "total_steps": 275}\nnot json\n');
    assert.deepEqual(tail.poll().map((r) => r.current_steps), [10]);
    rig.write('log/trainer_log.jsonl', '{"current_steps": 1, "total_steps": 2}\n');
    assert.deepEqual(tail.poll().map((r) => r.current_steps), [1], 'a truncated (rewritten) file is read from the start');
  });
});
