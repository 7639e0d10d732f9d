import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import type { RunEvent } from '../../src/run/events.js';
import { BIN, containersOf, removeContainers, Rig, waitFor, listening } from '../helpers/rig.js';
import { projectRoot } from '../../src/util/project-root.js';

/**
 * A serve stage through the Docker backend with the real `llamafactory-cli api` in the CPU image of
 * scripts/build-llamafactory-image.sh: the server and its consumers are containers on the host network
 * (as uid 1000 where the tests run as root), the consumers run the shipped evaluator from the read-only
 * `{tools}` mount, and a CLI killed while the server and a consumer run is re-attached to both.
 */
const IMAGE = 'flux-train/llamafactory-cpu:0.9.5';
const VENV = process.env['LLAMAFACTORY_VENV'] ?? join(homedir(), '.cache', 'flux-train', 'llamafactory-0.9.5-venv');
const imagePresent = (await execa('docker', ['image', 'inspect', IMAGE], { reject: false })).exitCode === 0;
const skip = !imagePresent
  ? `no image ${IMAGE}: run bash scripts/build-llamafactory-image.sh`
  : !existsSync(join(VENV, 'bin', 'python'))
    ? `no LLaMA-Factory venv at ${VENV} (it makes the tiny model): run bash scripts/setup-llamafactory-venv.sh`
    : false;
if (skip && process.env['CI'] === 'true' && process.env['FLUX_E2E'] === '1') throw new Error(String(skip));

const PIPELINE = `
name: serve-docker
llamafactory: {image: "${IMAGE}", version: 0.9.5}
backend: docker
gpus: none
models: {tiny: ../.cache/tiny-cpu/tiny-qwen3}
datasets: {}
retries: {max_attempts: 1, backoff_seconds: 0}
stages:
  - id: srv
    kind: serve
    engine: llamafactory
    template: qwen3
    model: {base: tiny}
    served_name: tiny-qwen3
    ready_timeout_seconds: 300
  - id: probe
    kind: command
    endpoints: {proposer: srv, reasoner: srv}
    command: [python3, "{pipeline_dir}/probe.py"]
    outputs: [seen.json]
  - id: eval
    kind: command
    after: [probe]
    endpoints: {proposer: srv, reasoner: srv}
    command: [python3, "{tools}/evaluate.py", --data-dir, "{tools}/fixtures/benchmarks", --limit, "1", --verifier, mentions, --proposer-max-tokens, "16", --reasoner-max-tokens, "16", --concurrency, "1", --quiet]
    outputs: [metrics.json]
`;

/** Waits, so the test can kill the CLI meanwhile, then records what the endpoint lists. */
const PROBE = `import json, os, time, urllib.request
time.sleep(15)
url = os.environ["FLUX_ENDPOINT_PROPOSER"]
seen = json.load(urllib.request.urlopen(url + "/models", timeout=30))
json.dump({"url": url, "uid": os.getuid(), "listed": [m["id"] for m in seen["data"]]}, open(os.path.join(os.environ["FLUX_OUTPUT_DIR"], "seen.json"), "w"))
`;

const asRoot = process.getuid?.() === 0;

describe('a serve stage in containers with the real llamafactory-cli api', { skip, timeout: 1_800_000 }, () => {
  const rig = new Rig('e2e-serve-docker');
  const args = ['round', '--n', '1', '--pipeline', 'pipelines/serve.yaml', '--run-dir', 'run', '--hf-cache', rig.path('hf-cache'), ...(asRoot ? ['--user', '1000:1000'] : [])];
  before(async () => {
    await execa('bash', [join(projectRoot, 'scripts', 'make-tiny-cpu-fixtures.sh'), rig.path('.cache', 'tiny-cpu')], { env: { LLAMAFACTORY_VENV: VENV } });
    rig.write('pipelines/serve.yaml', PIPELINE);
    rig.write('pipelines/probe.py', PROBE);
  });
  after(async () => {
    await removeContainers(rig.runDir);
    rig.cleanup();
  });

  it('serves, survives a killed CLI (re-attached, one server), evaluates, and leaves no container or listener', async () => {
    const first = execa(process.execPath, [BIN, ...args], { cwd: rig.dir, env: { FLUX_TRAIN_RENDERER: 'plain' }, reject: false });
    await waitFor(() => rig.events().some((e) => e.type === 'stage-started' && e.key === 'r1/probe'), 600_000, 'the probe to start');
    first.kill('SIGKILL');
    await first;
    assert.equal((await containersOf(rig.runDir)).filter((c) => c.state === 'running').length, 2, 'the server and the probe outlive the CLI');
    const r = await rig.cli(args, {}, 900_000);
    assert.equal(r.exitCode, 0, r.all);
    const events: RunEvent[] = rig.events();
    const starting = events.filter((e) => e.type === 'serve-starting');
    assert.equal(starting.length, 1, 'one server');
    assert.equal(events.filter((e) => e.type === 'serve-reused').length, 1, 'found again by its labels');
    const ready = events.find((e) => e.type === 'serve-ready');
    assert.ok(ready?.type === 'serve-ready');
    const seen = JSON.parse(rig.read('run/outputs/r1/probe/seen.json')) as { url: string; uid: number; listed: string[] };
    assert.deepEqual(seen.listed, ['tiny-qwen3']);
    assert.equal(seen.url, ready.url);
    if (asRoot) assert.equal(seen.uid, 1000);
    const metrics = rig.state().stages['r1/eval']?.done?.metrics ?? {};
    assert.deepEqual(Object.keys(metrics).sort(), ['aime24', 'aime25', 'math500']);
    assert.match(rig.read('run/logs/r1-srv.attempt1.log'), /Uvicorn running on/);
    assert.deepEqual(await containersOf(rig.runDir), [], 'no container left');
    const port = starting[0]?.type === 'serve-starting' ? starting[0].port : 0;
    await waitFor(async () => !(await listening(port)), 10_000, 'the port to close');
  });
});
