import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { formatNumber, renderConfigYaml } from '../../src/llamafactory/config-yaml.js';
import { checkValueType, DEFAULT_KEYS_VERSION, keySetFor, keySetVersions, loadKeySet, suggestKey } from '../../src/llamafactory/keys.js';

describe('config YAML', () => {
  it('writes floats that every YAML loader reads as floats', () => {
    assert.equal(formatNumber(5e-7, true), '5.0e-07');
    assert.equal(formatNumber(1e-5, true), '0.00001');
    assert.equal(formatNumber(5, true), '5.0');
    assert.equal(formatNumber(5, false), '5');
    assert.equal(formatNumber(1e21, true), '1.0e+21');
    for (const s of ['5.0e-07', '1.0e+21', '5.0']) assert.equal(typeof parse(`x: ${s}`, { version: '1.1' }).x, 'number');
  });

  it('renders numbers as numbers and booleans as booleans', () => {
    const ks = loadKeySet();
    const text = renderConfigYaml({ stage: 'dpo', bf16: true, learning_rate: 5e-7, num_train_epochs: 4, save_steps: 100, template: 'qwen3', dataset: 'a,b' }, ks);
    assert.match(text, /^bf16: true$/m);
    assert.match(text, /^num_train_epochs: 4\.0$/m);
    assert.match(text, /^save_steps: 100$/m);
    assert.match(text, /^learning_rate: 5\.0e-07$/m);
    assert.deepEqual(parse(text), { stage: 'dpo', bf16: true, learning_rate: 5e-7, num_train_epochs: 4, save_steps: 100, template: 'qwen3', dataset: 'a,b' });
  });
});

describe('key set', () => {
  const ks = loadKeySet();
  it('is by default the set of LLaMA-Factory 0.9.5, the version the shipped pipelines pin', () => {
    assert.equal(ks.source.version, DEFAULT_KEYS_VERSION);
    assert.equal(DEFAULT_KEYS_VERSION, '0.9.5');
    assert.ok(ks.keys.has('pref_beta') && ks.keys.has('deepspeed') && ks.keys.has('model_name_or_path') && ks.keys.has('overwrite_output_dir'));
  });
  it('keeps one set per supported version, each with its source', () => {
    assert.deepEqual(keySetVersions(), ['0.9.5', '0.9.6.dev0']);
    const dev = keySetFor('0.9.6.dev0');
    assert.ok(dev.ok);
    assert.equal(dev.value.source.commit, 'ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30');
    assert.ok(!dev.value.keys.has('tensor_model_parallel_size'), 'Megatron keys need USE_MEGATRON_BRIDGE');
    const none = keySetFor('0.8.0');
    assert.ok(!none.ok && /no LLaMA-Factory key set for version "0\.8\.0"/.test(none.error.message));
    assert.ok(!keySetFor('../llamafactory-keys/0.9.5').ok, 'a version is never a path');
  });
  it('suggests close keys only', () => {
    assert.equal(suggestKey(ks, 'gradient_accumulation_step'), 'gradient_accumulation_steps');
    assert.equal(suggestKey(ks, 'per_device_batch_size')?.startsWith('per_device'), true);
    assert.equal(suggestKey(ks, 'completely_unrelated_thing_xyz'), undefined);
  });
  it('checks types like the dataclasses declare them', () => {
    const info = (k: string) => ks.keys.get(k) as NonNullable<ReturnType<typeof ks.keys.get>>;
    assert.equal(checkValueType(info('bf16'), true), undefined);
    assert.match(checkValueType(info('bf16'), 'True') ?? '', /expected bool/);
    assert.equal(checkValueType(info('learning_rate'), 1), undefined);
    assert.match(checkValueType(info('cutoff_len'), 1.5) ?? '', /expected int/);
    assert.match(checkValueType(info('finetuning_type'), 'fulll') ?? '', /expected/);
    assert.equal(checkValueType(info('preprocessing_num_workers'), null), undefined);
  });
});
