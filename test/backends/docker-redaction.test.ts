import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dockerReady, removeContainers, Rig, TEST_IMAGE } from '../helpers/rig.js';

const skip = await dockerReady();

/** Issue 10: a job that prints a token must not put it in any file flux-train writes, the copied container log included. */
describe('secrets in a container’s output (real Docker Engine)', { skip }, () => {
  const rig = new Rig('docker-redact');
  after(async () => {
    await removeContainers(rig.runDir);
    rig.cleanup();
  });

  it('masks pass_env values in the attempt log copied from the container, the evidence, the event log and the terminal', async () => {
    const token = 'hf_DockerSecretToken0123';
    rig.write('d.jsonl', '{"instruction": "x", "output": "y"}\n');
    rig.write(
      'pipelines/leak.yaml',
      `name: leak
llamafactory: {image: ${TEST_IMAGE}, version: 0.9.5}
models: {tiny: org/tiny-model}
datasets: {d: {path: ../d.jsonl}}
gpus: none
docker: {network: none}
retries: {max_attempts: 1, backoff_seconds: 0}
stages:
  - id: leak
    kind: command
    rounds: [1]
    command: [sh, -c, 'echo "401 for token $HF_TOKEN"; printf "split %s" "$(echo $HF_TOKEN | cut -c1-10)"; sleep 0.3; echo "$(echo $HF_TOKEN | cut -c11-) end"; exit 3']
    outputs: [x.txt]
`,
    );
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/leak.yaml', '--run-dir', 'run'], { HF_TOKEN: token });
    assert.equal(r.exitCode, 1, r.all);
    assert.match(r.all, /401 for token \*\*\*/);
    const log = readFileSync(join(rig.runDir, 'logs', 'r1-leak.attempt1.log'), 'utf8');
    assert.match(log, /401 for token \*\*\*/);
    assert.match(log, /split \*\*\* end/, 'a secret written in two pieces is still masked');
    for (const f of [...readdirSync(rig.runDir).filter((n) => /\.(json|jsonl|log)$/.test(n)), 'logs/r1-leak.attempt1.log']) {
      assert.doesNotMatch(readFileSync(join(rig.runDir, f), 'utf8'), new RegExp(token), f);
    }
    assert.doesNotMatch(r.all, new RegExp(token));
  });
});
