import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { slurmReady } from '../helpers/slurm.js';
import { projectRoot } from '../../src/util/project-root.js';
import { BIN, Rig, waitFor } from '../helpers/rig.js';

/**
 * A serve stage as a Slurm batch job on the real single-node cluster (runtime none, the stand-in
 * `llamafactory-cli api` from a shared env): it listens on every interface of its node, its consumers (batch
 * jobs too) get the node's address, a killed CLI is re-attached to both jobs by their names, and the
 * server job is cancelled after its last consumer.
 */
const skip = await slurmReady();

const PIPELINE = `
name: serve-slurm
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
backend: slurm
gpus: none
slurm: {gpus_per_node: 0, runtime: none, poll_seconds: 0.2}
models: {tiny: ./model}
datasets: {}
retries: {max_attempts: 1, backoff_seconds: 0}
stages:
  - id: srv
    kind: serve
    engine: llamafactory
    template: qwen3
    model: {base: tiny}
    ready_timeout_seconds: 60
  - id: probe
    kind: command
    endpoints: {llm: srv}
    command: [python3, "{pipeline_dir}/probe.py", "8"]
    outputs: [seen.json]
  - id: again
    kind: command
    after: [probe]
    endpoints: {llm: srv}
    command: [python3, "{pipeline_dir}/probe.py", "0"]
    outputs: [seen.json]
`;

const PROBE = `import json, os, sys, time, urllib.request
time.sleep(float(sys.argv[1]))
url = os.environ["FLUX_ENDPOINT_LLM"]
seen = json.load(urllib.request.urlopen(url + "/models", timeout=10))
json.dump({"url": url, "listed": [m["id"] for m in seen["data"]]}, open(os.path.join(os.environ["FLUX_OUTPUT_DIR"], "seen.json"), "w"))
`;

describe('a serve stage as a Slurm job', { skip, timeout: 300_000 }, () => {
  const rig = new Rig('slurm-serve');
  after(async () => {
    for (const e of rig.eventsOf('serve-started')) await execa('scancel', [e.handle.id], { reject: false });
    rig.cleanup();
  });

  it('serves its consumers at its node’s address, is re-attached after a killed CLI, and is cancelled after them', async () => {
    const env = rig.path('env');
    mkdirSync(join(env, 'bin'), { recursive: true });
    symlinkSync(join(projectRoot, 'docker', 'standin', 'llamafactory-cli'), join(env, 'bin', 'llamafactory-cli'));
    rig.write('pipelines/model/config.json', '{}');
    rig.write('pipelines/model/model.safetensors', '');
    rig.write('pipelines/probe.py', PROBE);
    rig.write('pipelines/p.yaml', PIPELINE);
    const args = ['round', '--n', '1', '--pipeline', 'pipelines/p.yaml', '--run-dir', 'run', '--local-env', env];
    const first = execa(process.execPath, [BIN, ...args], { cwd: rig.dir, env: { FLUX_TRAIN_RENDERER: 'plain' }, reject: false });
    await waitFor(() => rig.events().some((e) => e.type === 'stage-started' && e.key === 'r1/probe'), 120_000, 'the probe job to be submitted');
    first.kill('SIGKILL');
    await first;
    const r = await rig.cli(args, {}, 240_000);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(rig.eventsOf('serve-starting').length, 1, 'one server job');
    assert.equal(rig.eventsOf('serve-reused').length, 1, 'found again by its job name');
    const node = (await execa('scontrol', ['-o', 'show', 'node'])).stdout.match(/NodeAddr=(\S+)/)?.[1];
    const url = rig.eventsOf('serve-ready')[0]?.url;
    assert.equal(url?.startsWith(`http://${node}:`), true, `${url} is on the node's address ${node}`);
    for (const k of ['probe', 'again']) assert.deepEqual(JSON.parse(readFileSync(join(rig.runDir, 'outputs/r1', k, 'seen.json'), 'utf8')), { url, listed: ['srv'] });
    const job = rig.eventsOf('serve-started')[0]?.handle.id ?? '';
    await waitFor(async () => (await execa('squeue', ['-h', '-j', job], { reject: false })).stdout.trim() === '', 30_000, 'the server job to leave the queue');
    assert.ok(existsSync(join(rig.runDir, 'logs', 'r1-srv.attempt1.log')));
    assert.match(readFileSync(join(rig.runDir, 'logs', 'r1-srv.attempt1.log'), 'utf8'), /Uvicorn running on http:\/\/0\.0\.0\.0:/);
  });
});
