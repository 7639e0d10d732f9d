import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { changedArgs, describeModel, instanceDetails } from '../../src/report/instances.js';

describe('report instances: what each stage instance got', () => {
  it('lists the arguments that changed from the previous round, not the model or dependencies', () => {
    const prev = { 'args.learning_rate': '0.00001', 'args.template': '"qwen3"', 'args.pref_beta': '0.1', model: 'stage:r1/a', 'dep.r1/a': 'x', image: 'i:1' };
    const cur = { 'args.learning_rate': '0.000005', 'args.template': '"qwen3"', 'args.cutoff_len': '2048', model: 'stage:r2/a', 'dep.r2/a': 'y', image: 'i:1' };
    assert.deepEqual(changedArgs(cur, prev), [
      { name: 'cutoff_len', after: '2048' },
      { name: 'learning_rate', before: '0.00001', after: '0.000005' },
      { name: 'pref_beta', before: '0.1' },
    ]);
    assert.deepEqual(changedArgs(cur, cur), []);
  });

  it('names models the way a person reads them', () => {
    assert.equal(describeModel('stage:r1/proposer_sft'), 'output of r1/proposer_sft');
    assert.equal(describeModel('base:Qwen/Qwen3-8B'), 'base model Qwen/Qwen3-8B');
    assert.equal(describeModel(undefined), undefined);
  });

  it('points at the output dir, the config and the log of every attempt that exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flux-inst-'));
    try {
      mkdirSync(join(dir, 'configs'));
      mkdirSync(join(dir, 'logs'));
      writeFileSync(join(dir, 'configs', 'r2-dpo.yaml'), 'x: 1\n');
      writeFileSync(join(dir, 'logs', 'r2-dpo.attempt1.log'), '');
      writeFileSync(join(dir, 'logs', 'r2-dpo.attempt2.log'), '');
      const fields = { kind: 'train', model: 'stage:r1/dpo', 'dataset.pairs': 'from:r1/sample', 'dataset.extra': 'stat:1', 'args.learning_rate': '1' };
      const d = instanceDetails(dir, 'r2/dpo', { key: 'r2/dpo', status: 'done', attempts: [{ n: 1, startedAt: '' }, { n: 2, startedAt: '' }, { n: 3, startedAt: '' }] }, fields, { ...fields, 'args.learning_rate': '2' });
      assert.deepEqual(d, {
        key: 'r2/dpo',
        id: 'dpo',
        round: 2,
        kind: 'train',
        status: 'done',
        model: 'output of r1/dpo',
        datasets: ['pairs (written by r1/sample)', 'extra'],
        outputDir: join(dir, 'outputs', 'r2', 'dpo'),
        configPath: join(dir, 'configs', 'r2-dpo.yaml'),
        logPaths: [join(dir, 'logs', 'r2-dpo.attempt1.log'), join(dir, 'logs', 'r2-dpo.attempt2.log')],
        changed: [{ name: 'learning_rate', before: '2', after: '1' }],
      });
      assert.equal(instanceDetails(dir, 'r1/dpo', undefined, {}, undefined)?.changed, undefined, 'round 1 has nothing to compare with');
      assert.equal(instanceDetails(dir, 'r1/sample', undefined, { kind: 'command', 'dep.r1/a': 'x', 'dep.r1/b': 'y' }, undefined)?.model, 'reads r1/a, r1/b');
      assert.equal(instanceDetails(dir, 'nonsense', undefined, {}, undefined), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
