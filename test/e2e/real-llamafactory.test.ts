import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { projectRoot } from '../../src/util/project-root.js';
import { sameProcessAlive } from '../../src/util/proc.js';
import type { RunState } from '../../src/state/state.js';
import { Rig, waitFor } from '../helpers/rig.js';

/**
 * The real-trainer tier: LLaMA-Factory itself (the version the pipelines pin) on CPU, with a tiny random
 * Qwen3 model. Needs the venv from scripts/setup-llamafactory-venv.sh.
 */
const VENV = process.env['LLAMAFACTORY_VENV'] ?? join(homedir(), '.cache', 'flux-train', 'llamafactory-0.9.5-venv');
const starts = (rig: Rig, key: string): number => rig.events().filter((e) => e.type === 'stage-started' && e.key === key).length;
const skip = existsSync(join(VENV, 'bin', 'llamafactory-cli')) ? false : `no LLaMA-Factory venv at ${VENV}: run bash scripts/setup-llamafactory-venv.sh`;
if (skip && process.env['CI'] === 'true' && process.env['FLUX_E2E'] === '1') throw new Error(String(skip));

describe('real LLaMA-Factory on CPU through flux-train', { skip }, () => {
  const rig = new Rig('e2e');
  const ARGS = ['--pipeline', 'pipelines/tiny.yaml', '--run-dir', 'run', '--backend', 'local', '--local-env', VENV];
  before(async () => {
    await execa('bash', [join(projectRoot, 'scripts', 'make-tiny-cpu-fixtures.sh'), rig.path('.cache', 'tiny-cpu')], { env: { LLAMAFACTORY_VENV: VENV } });
    rig.write('pipelines/tiny.yaml', readFileSync(join(projectRoot, 'pipelines', 'tiny-cpu.yaml'), 'utf8'));
  });
  after(() => rig.cleanup());

  it('runs two rounds: every stage finishes, each DPO stage loads the model the plan says, progress comes from trainer_log.jsonl', async () => {
    const r = await rig.cli(['round', '--n', '2', ...ARGS], {}, 600_000);
    assert.equal(r.exitCode, 0, r.all);
    const expected: Record<string, string> = {
      'r1/proposer_dpo': join(rig.runDir, 'outputs/r1/proposer_sft'),
      'r1/reasoner_dpo': rig.path('.cache/tiny-cpu/tiny-qwen3'),
      'r2/proposer_dpo': join(rig.runDir, 'outputs/r1/proposer_dpo'),
      'r2/reasoner_dpo': join(rig.runDir, 'outputs/r1/reasoner_dpo'),
    };
    for (const [key, model] of Object.entries(expected)) {
      const cfg = parse(readFileSync(join(rig.runDir, 'configs', `${key.replace('/', '-')}.yaml`), 'utf8')) as Record<string, unknown>;
      assert.equal(cfg['model_name_or_path'], model, key);
      assert.equal(cfg['stage'], 'dpo');
      const log = readFileSync(join(rig.runDir, 'logs', `${key.replace('/', '-')}.attempt1.log`), 'utf8');
      assert.ok(log.includes(`loading weights file ${model}/model.safetensors`), `${key} did not load ${model}`);
    }
    const s = rig.state();
    for (const st of Object.values(s.stages)) {
      assert.equal(st.status, 'done', st.key);
      assert.deepEqual([st.progress?.step, st.progress?.total], [6, 6], `${st.key} progress from the real trainer_log.jsonl`);
      assert.ok(typeof st.done?.finalLoss === 'number' && st.done.finalLoss > 0);
      for (const f of ['train_results.json', 'trainer_state.json', 'config.json', 'model.safetensors']) assert.ok(existsSync(join(rig.runDir, 'outputs', st.key, f)), `${st.key}/${f}`);
    }
    const status = JSON.parse((await rig.cli(['status', '--run-dir', 'run', '--json'])).stdout) as { stages: { key: string; status: string; step: number; total: number }[] };
    assert.deepEqual(
      status.stages.map((x) => [x.key, x.status, x.step, x.total]),
      // plan order: round by round, each round's stages as the pipeline lists them
      ['r1/proposer_sft', 'r1/proposer_dpo', 'r1/reasoner_dpo', 'r2/proposer_dpo', 'r2/reasoner_dpo'].map((k) => [k, 'done', 6, 6]),
    );
  });

  it('a training process killed after its first checkpoint resumes from it (LLaMA-Factory logs the resume); finished stages are skipped', async () => {
    // a longer reasoner stage (so there is time to kill it): it reruns, and so does round 2's, which builds on it
    writeFileSync(rig.path('pipelines/tiny.yaml'), rig.read('pipelines/tiny.yaml').replace(/(id: reasoner_dpo[\s\S]*?max_steps: )6/, '$1200'));
    const n0 = starts(rig, 'r1/reasoner_dpo');
    const child = rig.cli(['round', '--n', '2', ...ARGS, '--max-attempts', '1'], {}, 600_000);
    const ckpt = join(rig.runDir, 'outputs/r1/reasoner_dpo/checkpoint-3');
    await waitFor(() => starts(rig, 'r1/reasoner_dpo') > n0 && existsSync(join(ckpt, 'trainer_state.json')), 300_000, 'the first checkpoint of the rerun r1/reasoner_dpo');
    const st = JSON.parse(readFileSync(join(rig.runDir, 'state.json'), 'utf8')) as RunState;
    const h = st.stages['r1/reasoner_dpo']?.attempts.at(-1)?.handle;
    const proc = h?.backend === 'local' ? h.process : undefined;
    assert.ok(proc);
    process.kill(-proc.pid, 'SIGKILL');
    const r = await child;
    assert.equal(r.exitCode, 1, r.all);
    assert.match(r.stdout, /r1\/reasoner_dpo: FAILED: .*killed from outside/);
    const again = await rig.cli(['round', '--n', '2', ...ARGS], {}, 600_000);
    assert.equal(again.exitCode, 0, again.all);
    assert.match(again.stdout, /r1\/proposer_sft: skip/);
    assert.match(again.stdout, /r2\/proposer_dpo: skip/);
    const n = rig.state().stages['r1/reasoner_dpo']?.attempts.length ?? 0;
    const log = readFileSync(join(rig.runDir, 'logs', `r1-reasoner_dpo.attempt${n}.log`), 'utf8');
    assert.match(log, /Resuming training from .*outputs\/r1\/reasoner_dpo\/checkpoint-\d+/);
  });

  it('a SIGKILLed CLI is re-attached to the training it left running', async () => {
    const n0 = starts(rig, 'r1/proposer_sft');
    writeFileSync(rig.path('pipelines/tiny.yaml'), rig.read('pipelines/tiny.yaml').replace('args: {learning_rate: 1.0e-4, max_steps: 6}', 'args: {learning_rate: 1.0e-4, max_steps: 200}'));
    const child = rig.cli(['round', '--n', '1', ...ARGS, '--only', 'proposer_sft'], {}, 600_000);
    await waitFor(() => starts(rig, 'r1/proposer_sft') > n0 && existsSync(join(rig.runDir, 'outputs/r1/proposer_sft/checkpoint-3/trainer_state.json')), 300_000, 'a checkpoint');
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    const st = rig.state();
    const h = st.stages['r1/proposer_sft']?.attempts.at(-1)?.handle;
    const proc = h?.backend === 'local' ? h.process : undefined;
    assert.ok(proc && sameProcessAlive(proc.pid, proc.startTime), 'the training outlived the CLI');
    const before = st.stages['r1/proposer_sft']?.attempts.length;
    const r = await rig.cli(['round', '--n', '1', ...ARGS, '--only', 'proposer_sft'], {}, 600_000);
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /r1\/proposer_sft: re-attached to attempt \d+ \(pid \d+, still running\)/);
    assert.equal(rig.state().stages['r1/proposer_sft']?.attempts.length, before, 'never started twice');
    assert.equal(rig.state().stages['r1/proposer_sft']?.status, 'done');
  });

  it('LLaMA-Factory’s own parser accepts every generated config of pipelines/reasonflux-v2.yaml and rejects a bad one', async () => {
    const ok = await rig.cli(['validate', '--pipeline', join(projectRoot, 'pipelines', 'reasonflux-v2.yaml'), '--n', '3', '--no-data-check', '--with-llamafactory', VENV], {}, 300_000);
    assert.equal(ok.exitCode, 0, ok.all);
    assert.match(ok.stdout, /accepted all 7 train configs/);
    writeFileSync(rig.path('pipelines/bad.yaml'), `${rig.read('pipelines/tiny.yaml').replace('  use_cpu: true', '  use_cpu: true\n  my_custom_flag: 0.1')}allow_extra_args: true\n`);
    const bad = await rig.cli(['validate', '--pipeline', 'pipelines/bad.yaml', '--n', '1', '--with-llamafactory', VENV], {}, 300_000);
    assert.equal(bad.exitCode, 2, bad.all);
    assert.match(bad.stderr, /Some keys are not used by the HfArgumentParser: \['my_custom_flag'\]/);
  });
});
