import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { projectRoot } from '../../src/util/project-root.js';
import { containersOf, removeContainers, Rig, waitFor } from '../helpers/rig.js';

/**
 * The real-trainer tier through the Docker backend: LLaMA-Factory 0.9.5 in the CPU image built by
 * scripts/build-llamafactory-image.sh, the tiny Qwen3 model, container paths (/flux/...) throughout.
 * The fault tests run the containers as uid 1000 where the tests run as root: the case where the run
 * dir, output dirs and HF cache belong to another uid than the trainer's.
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

const asRoot = process.getuid?.() === 0;
/** another uid than ours where we may hand folders over (as root); else the default (ours) */
const OTHER_USER = asRoot ? ['--user', '1000:1000'] : [];
const starts = (rig: Rig, runDir: string, key: string): number =>
  readFileSync(join(rig.dir, runDir, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"stage-started"') && l.includes(`"key":"${key}"`)).length;
/** what uid-less containers printed in the issue: HOME=/ and no user */
const HOME_TROUBLE = /mkdir -p failed for path|Fontconfig error: No writable cache|Permission denied|getpwuid\(\): uid not found/;

describe('real LLaMA-Factory in its CPU image through the Docker backend', { skip, timeout: 1_800_000 }, () => {
  const rig = new Rig('e2e-docker');
  const args = (runDir: string, pipeline = 'tiny') => ['--pipeline', `pipelines/${pipeline}.yaml`, '--run-dir', runDir, '--backend', 'docker', '--image', IMAGE, '--gpus', 'none', '--hf-cache', rig.path('hf-cache', runDir)];
  before(async () => {
    await execa('bash', [join(projectRoot, 'scripts', 'make-tiny-cpu-fixtures.sh'), rig.path('.cache', 'tiny-cpu')], { env: { LLAMAFACTORY_VENV: VENV } });
    rig.write('pipelines/tiny.yaml', readFileSync(join(projectRoot, 'pipelines', 'tiny-cpu.yaml'), 'utf8'));
    // the fault tests need a stage long enough to be hit after its first checkpoint
    rig.write('pipelines/long.yaml', rig.read('pipelines/tiny.yaml').replace(/max_steps: 6/g, 'max_steps: 30'));
  });
  after(async () => {
    for (const d of ['run', 'run-kill', 'run-reattach']) await removeContainers(rig.path(d));
    rig.cleanup();
  });

  it('runs two rounds in containers: every stage loads the model the plan says by its container path, progress comes from trainer_log.jsonl', async () => {
    const r = await rig.cli(['round', '--n', '2', ...args('run')], {}, 900_000);
    assert.equal(r.exitCode, 0, r.all);
    const expected: Record<string, RegExp> = {
      'r1/proposer_dpo': /^\/flux\/run\/outputs\/r1\/proposer_sft$/,
      'r1/reasoner_dpo': /^\/flux\/models\/[0-9a-f]{8}\/tiny-qwen3$/,
      'r2/proposer_dpo': /^\/flux\/run\/outputs\/r1\/proposer_dpo$/,
      'r2/reasoner_dpo': /^\/flux\/run\/outputs\/r1\/reasoner_dpo$/,
    };
    for (const [key, model] of Object.entries(expected)) {
      const cfg = parse(readFileSync(join(rig.runDir, 'configs', `${key.replace('/', '-')}.yaml`), 'utf8')) as Record<string, unknown>;
      assert.match(String(cfg['model_name_or_path']), model, key);
      const log = readFileSync(join(rig.runDir, 'logs', `${key.replace('/', '-')}.attempt1.log`), 'utf8');
      assert.ok(log.includes(`loading weights file ${String(cfg['model_name_or_path'])}/model.safetensors`), `${key} did not load ${String(cfg['model_name_or_path'])}`);
    }
    const s = rig.state();
    assert.equal(Object.keys(s.stages).length, 5);
    for (const st of Object.values(s.stages)) {
      assert.equal(st.status, 'done', st.key);
      assert.deepEqual([st.progress?.step, st.progress?.total], [6, 6], `${st.key} progress from the real trainer_log.jsonl`);
      assert.ok(typeof st.done?.finalLoss === 'number' && st.done.finalLoss > 0);
      for (const f of ['train_results.json', 'trainer_state.json', 'config.json', 'model.safetensors']) assert.ok(existsSync(join(rig.runDir, 'outputs', st.key, f)), `${st.key}/${f}`);
    }
    assert.deepEqual(await containersOf(rig.runDir), [], 'finished containers are removed');
  });

  it(`a training killed inside its container after a checkpoint resumes from it${asRoot ? ' (containers as uid 1000, flux-train as root)' : ''}`, async () => {
    const a = [...args('run-kill', 'long'), '--only', 'reasoner_dpo', '--n', '1', ...OTHER_USER];
    const child = rig.cli(['round', ...a], {}, 900_000);
    const out = rig.path('run-kill', 'outputs', 'r1', 'reasoner_dpo');
    await waitFor(() => existsSync(join(out, 'checkpoint-3', 'trainer_state.json')), 600_000, 'the first checkpoint of r1/reasoner_dpo');
    const [c] = (await containersOf(rig.path('run-kill'))).filter((x) => x.state === 'running');
    assert.ok(c, 'a running container');
    // every process of the container's user but its init: the trainer dies as if the OOM killer or a person hit it
    // (bash: dash's kill takes -1 for an option)
    const k = await execa('docker', ['exec', c.id, 'bash', '-c', 'kill -KILL -1'], { reject: false });
    assert.equal(k.exitCode, 0, k.stderr);
    const r = await child;
    assert.equal(r.exitCode, 0, r.all);
    const st = JSON.parse(readFileSync(rig.path('run-kill', 'state.json'), 'utf8')) as { stages: Record<string, { status: string; attempts: unknown[] }> };
    assert.equal(st.stages['r1/reasoner_dpo']?.status, 'done');
    assert.equal(st.stages['r1/reasoner_dpo']?.attempts.length, 2, 'one retry');
    assert.match(r.stdout, /r1\/reasoner_dpo: .*killed from outside/);
    const log2 = readFileSync(rig.path('run-kill', 'logs', 'r1-reasoner_dpo.attempt2.log'), 'utf8');
    assert.match(log2, /Resuming training from \/flux\/run\/outputs\/r1\/reasoner_dpo\/checkpoint-\d+/);
    assert.doesNotMatch(log2, HOME_TROUBLE);
    if (asRoot) {
      assert.equal(statSync(join(out, 'model.safetensors')).uid, 1000, 'written by the container uid');
      assert.equal(statSync(rig.path('hf-cache', 'run-kill')).uid, 1000, 'the HF cache flux-train made is handed to the container uid');
    }
  });

  it(`a SIGKILLed CLI is re-attached to the container it left running${asRoot ? ' (containers as uid 1000)' : ''}`, async () => {
    const a = [...args('run-reattach', 'long'), '--only', 'proposer_sft', '--n', '1', ...OTHER_USER];
    const child = rig.cli(['round', ...a], {}, 900_000);
    await waitFor(() => existsSync(rig.path('run-reattach', 'outputs', 'r1', 'proposer_sft', 'checkpoint-3', 'trainer_state.json')), 600_000, 'a checkpoint');
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    const running = (await containersOf(rig.path('run-reattach'))).filter((x) => x.state === 'running');
    assert.equal(running.length, 1, 'the training outlived the CLI');
    const r = await rig.cli(['round', ...a], {}, 900_000);
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /r1\/proposer_sft: re-attached to attempt 1 \(flux-[^,]+, still running\)/);
    assert.equal(starts(rig, 'run-reattach', 'r1/proposer_sft'), 1, 'never started twice');
    const log = readFileSync(rig.path('run-reattach', 'logs', 'r1-proposer_sft.attempt1.log'), 'utf8');
    assert.match(log, /'train_loss'|train_loss/);
    assert.doesNotMatch(log, HOME_TROUBLE);
  });
});
