import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { containersOf, dockerReady, removeContainers, Rig, waitFor } from '../helpers/rig.js';

const skip = await dockerReady();

/** Every file under a folder, for the secrets check. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => {
      try {
        return !readdirSync(f);
      } catch {
        return true;
      }
    });
}

describe('flux-train round on a real Docker Engine', { skip }, () => {
  const rig = new Rig('round');
  before(async () => {
    await rig.demo();
  });
  after(async () => {
    await removeContainers(rig.runDir);
    rig.cleanup();
  });

  it('runs three rounds, handing every checkpoint on, and skips everything the second time', async () => {
    const r = await rig.cli(['round', '--n', '3', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run'], { HF_TOKEN: 'hf_SECRET_do_not_log_1234' });
    assert.equal(r.exitCode, 0, r.all);
    const out = (k: string) => join(rig.runDir, 'outputs', k);
    // each stage loaded the model the plan says: the config it ran and the weights it wrote
    const cfg = (k: string) => parse(readFileSync(join(rig.runDir, 'configs', `${k.replace('/', '-')}.yaml`), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg('r1/proposer_dpo')['model_name_or_path'], '/flux/run/outputs/r1/proposer_sft');
    assert.equal(cfg('r2/proposer_dpo')['model_name_or_path'], '/flux/run/outputs/r1/proposer_dpo');
    assert.equal(cfg('r3/reasoner_dpo')['model_name_or_path'], '/flux/run/outputs/r2/reasoner_dpo');
    assert.match(cfg('r1/reasoner_dpo')['model_name_or_path'] as string, /^\/flux\/models\/[0-9a-f]{8}\/tiny-base$/);
    assert.match(readFileSync(join(out('r2/proposer_dpo'), 'model.safetensors'), 'utf8'), /dpo from \/flux\/run\/outputs\/r1\/proposer_dpo/);
    assert.match(readFileSync(join(out('r3/reasoner_dpo'), 'model.safetensors'), 'utf8'), /from \/flux\/run\/outputs\/r2\/reasoner_dpo/);
    // round 2 trained on what the command stage of round 1 wrote from round 1's models
    assert.equal(cfg('r2/proposer_dpo')['dataset'], 'dpo_proposer_r2');
    assert.match(readFileSync(join(out('r1/sample_pairs'), 'dpo_proposer.jsonl'), 'utf8'), /sampled from \/flux\/run\/outputs\/r1\/proposer_dpo/);
    for (const k of ['r1/proposer_sft', 'r1/proposer_dpo', 'r1/reasoner_dpo', 'r2/proposer_dpo', 'r2/reasoner_dpo', 'r3/proposer_dpo', 'r3/reasoner_dpo']) {
      for (const f of ['train_results.json', 'trainer_state.json', 'config.json', 'model.safetensors']) assert.ok(existsSync(join(out(k), f)), `${k}/${f}`);
    }
    // progress came from trainer_log.jsonl
    const events = rig.events();
    assert.ok(events.some((e) => e.type === 'stage-checkpoint' && e.key === 'r1/proposer_sft'));
    const s = rig.state();
    assert.equal(s.stages['r1/proposer_sft']?.progress?.step, 8);
    assert.equal(s.stages['r1/proposer_sft']?.progress?.total, 8);
    assert.ok(Object.values(s.stages).every((st) => st.status === 'done'));
    // one log per attempt, demultiplexed from the container
    assert.match(readFileSync(join(rig.runDir, 'logs', 'r1-proposer_sft.attempt1.log'), 'utf8'), /Running training/);
    assert.deepEqual(await containersOf(rig.runDir), [], 'finished containers are removed');
    // the secret reached no file the run wrote
    for (const f of allFiles(rig.runDir)) assert.ok(!readFileSync(f, 'latin1').includes('hf_SECRET_do_not_log_1234'), `secret leaked into ${f}`);

    const again = await rig.cli(['round', '--n', '3', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run']);
    assert.equal(again.exitCode, 0, again.all);
    assert.match(again.all ?? '', /done: 9 skipped/);

    const status = await rig.cli(['status', '--run-dir', 'run', '--json']);
    const st = JSON.parse(status.stdout) as { stages: { key: string; status: string; attempts: number }[]; effective_training_time_ratio: number };
    assert.equal(st.stages.length, 9);
    assert.ok(st.stages.every((x) => x.status === 'done' && x.attempts === 1));
    assert.ok(st.effective_training_time_ratio > 0 && st.effective_training_time_ratio <= 1);
  });

  it('passes secrets by name into the container', async () => {
    const r2 = new Rig('secret');
    try {
      await r2.demo((y) => y.replace('echo "wrote preference pairs', '[ -n "$HF_TOKEN" ] && echo "token present" > "$FLUX_OUTPUT_DIR/token.txt"\n        echo "wrote preference pairs'));
      const r = await r2.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run'], { HF_TOKEN: 'hf_SECRET_xyz' });
      assert.equal(r.exitCode, 0, r.all);
      assert.equal(readFileSync(join(r2.runDir, 'outputs/r1/sample_pairs/token.txt'), 'utf8').trim(), 'token present');
      for (const f of allFiles(r2.runDir)) assert.ok(!readFileSync(f, 'latin1').includes('hf_SECRET_xyz'), `secret leaked into ${f}`);
    } finally {
      await removeContainers(r2.runDir);
      r2.cleanup();
    }
  });

  it('Ctrl-C stops the running container gracefully, records the stage as interrupted and exits 130; the rerun resumes', async () => {
    const r3 = new Rig('ctrlc');
    try {
      await r3.demo(undefined, 200);
      r3.control('r1/proposer_sft', 'step_ms=100');
      const child = r3.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--grace', '5']);
      await waitFor(() => existsSync(join(r3.runDir, 'outputs/r1/proposer_sft/checkpoint-4')), 60_000, 'a first checkpoint');
      child.kill('SIGINT');
      const r = await child;
      assert.equal(r.exitCode, 130, r.all);
      assert.match(r.all ?? '', /interrupted/);
      assert.equal(r3.state().stages['r1/proposer_sft']?.status, 'interrupted');
      assert.match(readFileSync(join(r3.runDir, 'logs/r1-proposer_sft.attempt1.log'), 'utf8'), /got SIGTERM/);
      assert.deepEqual(await containersOf(r3.runDir), []);
      r3.control('r1/proposer_sft', 'step_ms=5');
      const dry = await r3.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--dry-run', '--json']);
      const plan = JSON.parse(dry.stdout) as { stages: { key: string; action: string }[] };
      assert.match(plan.stages[0]?.action ?? '', /^resume@checkpoint-\d+$/);
      const again = await r3.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run']);
      assert.equal(again.exitCode, 0, again.all);
      assert.match(readFileSync(join(r3.runDir, 'logs/r1-proposer_sft.attempt2.log'), 'utf8'), /Resuming training from \/flux\/run\/outputs\/r1\/proposer_sft\/checkpoint-\d+/);
    } finally {
      await removeContainers(r3.runDir);
      r3.cleanup();
    }
  });

  it('--detach leaves the container running on Ctrl-C and a later run re-attaches to it', async () => {
    const r4 = new Rig('detach');
    try {
      await r4.demo(undefined, 400);
      r4.control('r1/proposer_sft', 'step_ms=100');
      const child = r4.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--detach']);
      await waitFor(() => existsSync(join(r4.runDir, 'outputs/r1/proposer_sft/trainer_log.jsonl')), 60_000, 'training to start');
      child.kill('SIGINT');
      const r = await child;
      assert.equal(r.exitCode, 130, r.all);
      const running = await containersOf(r4.runDir);
      assert.equal(running.length, 1);
      assert.equal(running[0]?.state, 'running');
      const again = await r4.cli(['resume', '--run-dir', 'run']);
      assert.equal(again.exitCode, 0, again.all);
      assert.match(again.all ?? '', /r1\/proposer_sft: re-attached to attempt 1/);
      assert.equal(r4.state().stages['r1/proposer_sft']?.attempts.length, 1, 'never started twice');
    } finally {
      await removeContainers(r4.runDir);
      r4.cleanup();
    }
  });

  it('two rounds on one run dir at once: the second refuses and names the first', async () => {
    const r5 = new Rig('twice');
    try {
      await r5.demo(undefined, 60);
      r5.control('r1/proposer_sft', 'step_ms=100');
      const first = r5.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run']);
      await waitFor(() => existsSync(join(r5.runDir, 'lock.json')) && existsSync(join(r5.runDir, 'outputs/r1/proposer_sft')), 60_000, 'the first run');
      const second = await r5.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run']);
      assert.equal(second.exitCode, 3, second.all);
      assert.match(second.stderr, /is in use by flux-train pid \d+ on /);
      const r = await first;
      assert.equal(r.exitCode, 0, r.all);
    } finally {
      await removeContainers(r5.runDir);
      r5.cleanup();
    }
  });
});

describe('preflight on a real Docker Engine', { skip }, () => {
  const rig = new Rig('preflight');
  before(async () => {
    await rig.demo();
  });
  after(async () => {
    await removeContainers(rig.runDir);
    rig.cleanup();
  });

  it('explains a missing NVIDIA runtime from real GPU DeviceRequests, before any stage starts', async () => {
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--gpus', 'all']);
    assert.equal(r.exitCode, 4, r.all);
    assert.match(r.stderr, /could not select device driver/);
    assert.match(r.stderr, /NVIDIA Container Toolkit/);
    assert.match(r.stderr, /--gpus none/);
    const probes = await execa('docker', ['ps', '-a', '--filter', 'label=flux-train.probe=gpu', '-q']);
    assert.equal(probes.stdout.trim(), '', 'the probe container is removed');
    assert.ok(!existsSync(join(rig.runDir, 'outputs/r1/proposer_sft')), 'nothing started');
  });

  it('explains a missing image when no registry can be reached', async () => {
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--image', 'flux-train/does-not-exist:1.0']);
    assert.equal(r.exitCode, 4, r.all);
    assert.match(r.stderr, /image flux-train\/does-not-exist:1\.0 is not on this host and pulling it failed/);
    assert.match(r.stderr, /--image REF/);
  });

  it('says which engine address it tried when Docker is down', async () => {
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run'], { DOCKER_HOST: 'unix:///tmp/no-docker-here.sock' });
    assert.equal(r.exitCode, 4, r.all);
    assert.match(r.stderr, /does not answer at unix:\/\/\/tmp\/no-docker-here\.sock/);
    assert.match(r.stderr, /DOCKER_HOST/);
  });
});
