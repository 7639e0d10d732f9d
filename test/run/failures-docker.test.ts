import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { EventOf } from '../../src/run/events.js';
import { containersOf, dockerReady, removeContainers, Rig } from '../helpers/rig.js';

const skip = await dockerReady();
const rigs: Rig[] = [];

/** Runs round 1's SFT stage with a fault injected, and returns the failure events. */
async function withFault(spec: string, edit: (y: string) => string = (y) => y, extra: string[] = []) {
  const rig = new Rig('fail');
  rigs.push(rig);
  await rig.demo((y) => edit(y.replace('backoff_seconds: 1', 'backoff_seconds: 0')), 64);
  rig.control('r1/proposer_sft', spec);
  const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--only', 'proposer_sft', ...extra]);
  const failures = rig.events().filter((e): e is EventOf<'stage-failed'> => e.type === 'stage-failed');
  return { rig, r, failures };
}

describe('failure causes on a real Docker Engine', { skip }, () => {
  after(async () => {
    for (const r of rigs) {
      await removeContainers(r.runDir);
      r.cleanup();
    }
  });

  it('GPU OOM: retried once, stopped when it repeats at the same step, with the batch-size advice', async () => {
    const { r, failures, rig } = await withFault('fail_at=3 mode=oom');
    assert.equal(r.exitCode, 1, r.all);
    assert.deepEqual(failures.map((f) => [f.cause, f.willRetry]), [['gpu-oom', true], ['gpu-oom', false]]);
    assert.match(failures[1]?.message ?? '', /GPU out of memory.*CUDA out of memory.*lower per_device_train_batch_size and raise gradient_accumulation_steps/);
    assert.match(r.stdout, /FAILED: r1\/proposer_sft \(attempt 2\) exited with code 1: GPU out of memory/);
    assert.equal(rig.state().stages['r1/proposer_sft']?.lastCause, 'gpu-oom');
    assert.deepEqual(await containersOf(rig.runDir), [], 'failed containers are removed once recorded');
  });

  it('NCCL error: transient, retried and finished from the last checkpoint', async () => {
    const { r, failures, rig } = await withFault('fail_at=6 mode=nccl once=1');
    assert.equal(r.exitCode, 0, r.all);
    assert.deepEqual(failures.map((f) => [f.cause, f.transient, f.willRetry]), [['nccl', true, true]]);
    const a = rig.state().stages['r1/proposer_sft']?.attempts ?? [];
    assert.equal(a.length, 2);
    assert.equal(a[1]?.resumeFrom, 4);
    assert.match(readFileSync(join(rig.runDir, 'logs/r1-proposer_sft.attempt2.log'), 'utf8'), /Resuming training from .*checkpoint-4/);
    // steps after checkpoint-4 were trained again; what was logged bounds the loss, never above save_steps
    assert.ok((a[1]?.stepsLost ?? -1) >= 0 && (a[1]?.stepsLost ?? 99) <= 4);
  });

  it('killed from outside (137, OOMKilled false): transient', async () => {
    const { r, failures } = await withFault('fail_at=2 mode=kill once=1');
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(failures[0]?.cause, 'killed');
    assert.equal(failures[0]?.exitCode, 137);
    assert.equal(failures[0]?.oomKilled, false);
  });

  it('host OOM: State.OOMKilled from a real memory limit', async () => {
    const { r, failures } = await withFault('fail_at=2 mode=hostoom', (y) => y.replace('  memlock: 8388608', '  memlock: 8388608\n  memory: 48m'));
    assert.equal(r.exitCode, 1, r.all);
    assert.equal(failures[0]?.cause, 'host-oom');
    assert.equal(failures[0]?.oomKilled, true);
    assert.equal(failures.length, 2, 'retried once, then stopped because it repeated');
    assert.match(failures[1]?.message ?? '', /preprocessing_num_workers|memory limit/);
  });

  it('disk full: deterministic, no retry', async () => {
    const { r, failures } = await withFault('fail_at=3 mode=disk');
    assert.equal(r.exitCode, 1);
    assert.deepEqual(failures.map((f) => [f.cause, f.willRetry]), [['disk-full', false]]);
    assert.match(failures[0]?.message ?? '', /No space left on device/);
  });

  it('an unknown exit code is reported with the last log lines', async () => {
    const { failures } = await withFault('fail_at=3 mode=exit3');
    assert.equal(failures[0]?.cause, 'unknown');
    assert.equal(failures[0]?.exitCode, 3);
    assert.match(failures[0]?.message ?? '', /something odd happened/);
  });

  it('LLaMA-Factory config errors stop at once: unknown key, a model without weights', async () => {
    const unknown = await withFault('fail_at=1 mode=unknown_key');
    assert.deepEqual(unknown.failures.map((f) => [f.cause, f.willRetry]), [['config-unknown-key', false]]);
    // a model folder without weights: the trainer refuses it like LLaMA-Factory
    const noWeights = new Rig('fail');
    rigs.push(noWeights);
    await noWeights.demo();
    noWeights.write('.demo/models/empty/config.json', '{}');
    noWeights.write('pipelines/demo.yaml', noWeights.read('pipelines/demo.yaml').replace('tiny: ../.demo/models/tiny-base', 'tiny: ../.demo/models/empty'));
    const r = await noWeights.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--only', 'proposer_sft']);
    assert.equal(r.exitCode, 1, r.all);
    const f = noWeights.events().find((e): e is EventOf<'stage-failed'> => e.type === 'stage-failed');
    assert.equal(f?.cause, 'missing-model');
    assert.equal(f?.willRetry, false);
  });

  it('memlock -1 refused by this host: warned once, run without it', async () => {
    const rig = new Rig('memlock');
    rigs.push(rig);
    await rig.demo((y) => y.replace('  memlock: 8388608\n', ''));
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run']);
    assert.equal(r.exitCode, 0, r.all);
    const warnings = r.stdout.split('\n').filter((l) => /refuses ulimit memlock/.test(l));
    assert.equal(warnings.length, 1, r.stdout);
  });
});
