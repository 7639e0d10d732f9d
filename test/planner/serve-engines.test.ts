import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serveLaunch, type ServeRequest } from '../../src/planner/serve-engines.js';
import { SERVE_ENGINE_NAMES } from '../../src/pipeline/schema.js';

const req = (o: Partial<ServeRequest>): ServeRequest => ({ engine: 'sglang', model: '/run/outputs/r1/proposer_dpo', servedName: 'r1-proposer', port: 30000, host: '127.0.0.1', tensorParallel: 4, configPath: '/run/configs/r1-serve.yaml', extraArgs: [], ...o });

describe('serveLaunch', () => {
  it('starts sglang with the seed\'s flags: the port, --tp-size from the GPUs, --reasoning-parser qwen3', () => {
    const r = serveLaunch(req({}));
    assert.ok(r.ok);
    assert.deepEqual(r.value.command, ['python', '-m', 'sglang.launch_server', '--model-path', '/run/outputs/r1/proposer_dpo', '--served-model-name', 'r1-proposer', '--host', '127.0.0.1', '--port', '30000', '--tp-size', '4', '--reasoning-parser', 'qwen3']);
  });

  it('keeps the caller\'s own --reasoning-parser instead of adding the seed\'s', () => {
    const r = serveLaunch(req({ extraArgs: ['--reasoning-parser=deepseek-r1'] }));
    assert.ok(r.ok);
    assert.equal(r.value.command.filter((a) => a.startsWith('--reasoning-parser')).length, 1);
    assert.ok(r.value.command.includes('--reasoning-parser=deepseek-r1'));
  });

  it('starts vllm serve with the tensor parallel size and the served name', () => {
    const r = serveLaunch(req({ engine: 'vllm', tensorParallel: 2, extraArgs: ['--max-model-len', '8192'] }));
    assert.ok(r.ok);
    assert.deepEqual(r.value.command, ['vllm', 'serve', '/run/outputs/r1/proposer_dpo', '--served-model-name', 'r1-proposer', '--host', '127.0.0.1', '--port', '30000', '--tensor-parallel-size', '2', '--max-model-len', '8192']);
  });

  it('starts llamafactory-cli api on an inference YAML, with port, host and the listed name in its environment', () => {
    const r = serveLaunch(req({ engine: 'llamafactory', template: 'qwen3', tensorParallel: 0 }));
    assert.ok(r.ok);
    assert.deepEqual(r.value.command, ['llamafactory-cli', 'api', '/run/configs/r1-serve.yaml']);
    assert.deepEqual(r.value.env, { API_HOST: '127.0.0.1', API_PORT: '30000', API_MODEL_NAME: 'r1-proposer' });
    assert.equal(r.value.config, 'model_name_or_path: "/run/outputs/r1/proposer_dpo"\ntemplate: "qwen3"\ninfer_backend: huggingface\n');
  });

  it('refuses the llamafactory engine without a template', () => {
    assert.deepEqual(serveLaunch(req({ engine: 'llamafactory' })), { ok: false, error: { kind: 'no-template' } });
  });

  it('never asks an engine for fewer than one GPU of tensor parallelism', () => {
    for (const engine of SERVE_ENGINE_NAMES.filter((e) => e !== 'llamafactory')) {
      const r = serveLaunch(req({ engine, tensorParallel: 0 }));
      assert.ok(r.ok);
      assert.ok(r.value.command.join(' ').match(/(--tp-size|--tensor-parallel-size) 1\b/), r.value.command.join(' '));
    }
  });
});
