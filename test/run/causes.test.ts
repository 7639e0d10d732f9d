import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { causeInfo, classify } from '../../src/run/causes.js';

const cases: [string, Parameters<typeof classify>[0], string, string][] = [
  ['GPU OOM', { exitCode: 1, oomKilled: false, logTail: ['step 3', 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB'] }, 'gpu-oom', 'deterministic'],
  ['host OOM (OOMKilled even with exit 0)', { exitCode: 0, oomKilled: true, logTail: ['ok'] }, 'host-oom', 'transient'],
  ['NCCL', { exitCode: 1, oomKilled: false, logTail: ['RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error'] }, 'nccl', 'transient'],
  ['watchdog', { exitCode: 1, oomKilled: false, logTail: ['[rank0]:[E] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1)'] }, 'nccl', 'transient'],
  ['disk full', { exitCode: 1, oomKilled: false, logTail: ["OSError: [Errno 28] No space left on device: 'x'"] }, 'disk-full', 'deterministic'],
  ['killed from outside', { exitCode: 137, oomKilled: false, logTail: ['step 9'] }, 'killed', 'transient'],
  ['unknown key', { exitCode: 1, oomKilled: false, logTail: ["ValueError: Some keys are not used by the HfArgumentParser: ['learning_rat']"] }, 'config-unknown-key', 'deterministic'],
  ['undefined dataset', { exitCode: 1, oomKilled: false, logTail: ['ValueError: Undefined dataset foo in dataset_info.json.'] }, 'config-undefined-dataset', 'deterministic'],
  ['no valid samples', { exitCode: 1, oomKilled: false, logTail: ['RuntimeError: Cannot find valid samples, check `data/README.md` for the data format.'] }, 'config-no-valid-samples', 'deterministic'],
  ['dataset stage', { exitCode: 1, oomKilled: false, logTail: ['ValueError: The dataset is not applicable in the current training stage.'] }, 'config-dataset-stage', 'deterministic'],
  ['output dir', { exitCode: 1, oomKilled: false, logTail: ['ValueError: Output directory already exists and is not empty. Please set `overwrite_output_dir`.'] }, 'config-output-dir-not-empty', 'deterministic'],
  ['missing model', { exitCode: 1, oomKilled: false, logTail: ["OSError: /m is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'"] }, 'missing-model', 'deterministic'],
  ['no GPU runtime', { exitCode: null, oomKilled: false, logTail: [], startFailure: { message: 'could not select device driver "" with capabilities: [[gpu]]', cause: 'no-gpu-runtime' } }, 'no-gpu-runtime', 'deterministic'],
  ['image missing', { exitCode: null, oomKilled: false, logTail: [], startFailure: { message: 'No such image: x:1', cause: 'image-missing' } }, 'image-missing', 'deterministic'],
  ['unknown', { exitCode: 3, oomKilled: false, logTail: ['hmm'] }, 'unknown', 'deterministic'],
];

describe('failure causes', () => {
  for (const [name, facts, code, cls] of cases) {
    it(name, () => {
      const c = classify(facts);
      assert.equal(c.code, code);
      assert.equal(c.class, cls);
      assert.ok(c.fix.length > 20);
      assert.ok(c.evidence.length > 0);
    });
  }
  it('takes the error nearest to the exit over earlier noise', () => {
    const c = classify({ exitCode: 1, oomKilled: false, logTail: ['NCCL WARN something harmless', 'torch.OutOfMemoryError: CUDA out of memory'] });
    assert.equal(c.code, 'gpu-oom');
  });
  it('tells the OOM fix that keeps the effective batch', () => {
    assert.match(classify({ exitCode: 1, oomKilled: false, logTail: ['CUDA out of memory'] }).fix, /per_device_train_batch_size.*gradient_accumulation_steps/);
  });

  // review of issue 16: causeInfo('bogus') was undefined and causeInfo('toString') a function
  it('causeInfo is total: a code it does not know, even a name on Object.prototype, is an unknown cause', () => {
    for (const code of ['bogus', 'toString', '__proto__', 'constructor', 'hasOwnProperty', '']) {
      const info = causeInfo(code);
      assert.equal(info.class, 'deterministic', code);
      assert.equal(info.title, `a cause this flux-train does not know ("${code}")`);
      assert.match(info.fix, /flux-train logs/);
    }
    assert.equal(causeInfo('gpu-oom').title, 'GPU out of memory');
  });
});
