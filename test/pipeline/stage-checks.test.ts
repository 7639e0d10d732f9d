import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { looksSecret, outputPathProblem } from '../../src/pipeline/stage-checks.js';

describe('stage checks', () => {
  it('keeps command outputs inside the output dir', () => {
    for (const ok of ['a.jsonl', 'sub/a.jsonl', './a.jsonl', 'a..b.jsonl', '...']) assert.equal(outputPathProblem(ok), undefined, ok);
    for (const bad of ['/etc/x', '../x', 'a/../../x', 'a\\..\\x', 'C:\\x', '\\\\server\\share', '.', './', 'a/..']) assert.ok(outputPathProblem(bad), bad);
  });

  it('calls names with TOKEN, SECRET, KEY or PASSWORD secret, in any case', () => {
    for (const s of ['HF_TOKEN', 'WANDB_API_KEY', 'aws_secret_access_key', 'DB_PASSWORD', 'apikey']) assert.ok(looksSecret(s), s);
    for (const s of ['OMP_NUM_THREADS', 'HF_HOME', 'CUDA_VISIBLE_DEVICES', 'NCCL_DEBUG']) assert.ok(!looksSecret(s), s);
  });
});
