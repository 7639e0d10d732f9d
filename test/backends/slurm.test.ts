import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { slurmReady } from '../helpers/slurm.js';
import { projectRoot } from '../../src/util/project-root.js';
import { slurmExit } from '../../src/backends/slurm.js';
import { dockerReady, Rig, waitFor } from '../helpers/rig.js';

/**
 * A real single-node Slurm 22.05 (bash .ci/infra.sh slurm; SLURM_CONF exported), the stand-in trainer
 * through the `none` runtime (a host script on shared storage) and the `docker` runtime.
 */
const skip = await slurmReady();

function slurmPipeline(extra = ''): (y: string) => string {
  return (y) =>
    y
      .replace('gpus: none', `gpus: none\nbackend: slurm\nslurm:\n  gpus_per_node: 0\n${extra.includes('runtime:') ? '' : '  runtime: none\n'}  poll_seconds: 0.2\n${extra}`)
      .replace('backoff_seconds: 1', 'backoff_seconds: 0');
}

async function standinEnv(rig: Rig): Promise<{ env: string; keys: string }> {
  const env = rig.path('standin-env');
  mkdirSync(join(env, 'bin'), { recursive: true });
  symlinkSync(join(projectRoot, 'docker', 'standin', 'llamafactory-cli'), join(env, 'bin', 'llamafactory-cli'));
  const keys = join(env, 'keys.txt');
  writeFileSync(keys, (await execa(process.execPath, [join(projectRoot, 'scripts', 'keys-list.mjs')])).stdout);
  return { env, keys };
}

const jobOf = (rig: Rig, key: string): string | undefined => rig.state().stages[key]?.attempts.at(-1)?.handle?.id;

describe('Slurm backend on a real single-node cluster', { skip }, () => {
  const rigs: Rig[] = [];
  after(async () => {
    for (const r of rigs) {
      await execa('scancel', ['--name', 'x'], { reject: false });
      r.cleanup();
    }
  });
  async function setup(name: string, records = 32, extra = ''): Promise<{ rig: Rig; run: (more?: string[]) => ReturnType<Rig['cli']> }> {
    const rig = new Rig(name);
    rigs.push(rig);
    await rig.demo(slurmPipeline(extra), records);
    const { env, keys } = await standinEnv(rig);
    rig.write('run/standin-control/.keep', '');
    return { rig, run: (more = []) => rig.cli(['round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--local-env', env, ...more], { STANDIN_KEYS: keys }, 300_000) };
  }

  it('runs two rounds as batch jobs, handing outputs on; the job scripts carry the torchrun wiring', async () => {
    const { rig, run } = await setup('slurm-run');
    const r = await run();
    assert.equal(r.exitCode, 0, r.all);
    assert.match(readFileSync(join(rig.runDir, 'outputs/r2/proposer_dpo/model.safetensors'), 'utf8'), new RegExp(`from ${rig.runDir}/outputs/r1/proposer_dpo`));
    const s = rig.state();
    assert.ok(Object.values(s.stages).every((x) => x.status === 'done'));
    assert.equal(s.stages['r1/proposer_sft']?.attempts[0]?.handle?.backend, 'slurm');
    const script = readFileSync(join(rig.runDir, 'slurm', 'r1-proposer_sft.attempt1.sbatch'), 'utf8');
    for (const l of ['#SBATCH --ntasks-per-node=1', 'export FORCE_TORCHRUN=1', 'export NNODES=$SLURM_NTASKS', 'export MASTER_PORT=29500', 'scontrol show hostnames', 'NODE_RANK=$SLURM_PROCID']) assert.ok(script.includes(l), l);
    assert.match(readFileSync(join(rig.runDir, 'logs', 'r1-proposer_sft.attempt1.log'), 'utf8'), /training finished/);
  });

  it('two tasks in one job stand in for two nodes: each its own NODE_RANK, the same MASTER_ADDR and MASTER_PORT', async () => {
    const { rig, run } = await setup('slurm-ranks', 32, '  tasks: 2\n');
    const r = await run(['--only', 'proposer_sft']);
    assert.equal(r.exitCode, 0, r.all);
    const log = readFileSync(join(rig.runDir, 'logs', 'r1-proposer_sft.attempt1.log'), 'utf8');
    const ranks = [...log.matchAll(/node rank (\d+) of (\d+): MASTER_ADDR=(\S+) MASTER_PORT=(\S+) FORCE_TORCHRUN=1/g)];
    assert.deepEqual(ranks.map((m) => m[1]).sort(), ['0', '1'], log);
    assert.ok(ranks.every((m) => m[2] === '2' && m[4] === '29500'));
    assert.equal(new Set(ranks.map((m) => m[3])).size, 1, 'one MASTER_ADDR');
  });

  it('a failed job is classified from its log and retried from the last checkpoint', async () => {
    const { rig, run } = await setup('slurm-fail');
    rig.control('r1/proposer_sft', 'fail_at=6 mode=nccl once=1');
    const r = await run(['--only', 'proposer_sft']);
    assert.equal(r.exitCode, 0, r.all);
    const a = rig.state().stages['r1/proposer_sft']?.attempts ?? [];
    assert.equal(a[0]?.cause, 'nccl');
    assert.equal(a[1]?.resumeFrom, 4);
  });

  it('a job cancelled from outside is an interruption; the rerun resumes it', async () => {
    const { rig, run } = await setup('slurm-cancel', 200);
    rig.control('r1/proposer_sft', 'step_ms=100');
    const child = run(['--only', 'proposer_sft']);
    await waitFor(() => existsSync(join(rig.runDir, 'outputs/r1/proposer_sft/checkpoint-4')), 60_000, 'a checkpoint');
    const id = jobOf(rig, 'r1/proposer_sft');
    assert.ok(id);
    await execa('scancel', [id]);
    const r = await child;
    assert.equal(r.exitCode, 130, r.all);
    assert.match(r.stdout, /CANCELLED/);
    assert.equal(rig.state().stages['r1/proposer_sft']?.status, 'interrupted');
    rig.control('r1/proposer_sft', 'step_ms=5');
    const again = await run(['--only', 'proposer_sft']);
    assert.equal(again.exitCode, 0, again.all);
    assert.match(readFileSync(join(rig.runDir, 'logs', 'r1-proposer_sft.attempt2.log'), 'utf8'), /Resuming training from/);
  });

  it('a SIGKILLed CLI re-attaches to its job and never submits the stage twice', async () => {
    const { rig, run } = await setup('slurm-reattach', 120);
    rig.control('r1/proposer_sft', 'step_ms=100');
    const child = run(['--only', 'proposer_sft']);
    await waitFor(() => existsSync(join(rig.runDir, 'outputs/r1/proposer_sft/checkpoint-4')), 60_000, 'a checkpoint');
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    const id = jobOf(rig, 'r1/proposer_sft');
    const again = await run(['--only', 'proposer_sft']);
    assert.equal(again.exitCode, 0, again.all);
    assert.match(again.stdout, new RegExp(`re-attached to attempt 1 \\(job ${id}`));
    assert.equal(rig.state().stages['r1/proposer_sft']?.attempts.length, 1);
    const ledger = readFileSync(join(rig.runDir, 'standin-control', 'ledger'), 'utf8').split('\n').filter((l) => l.startsWith('start r1-proposer_sft'));
    assert.equal(ledger.length, 1, 'submitted once');
  });

  it('runs a stage in Docker inside the job (the docker runtime, with --init)', async (t) => {
    if (await dockerReady()) return t.skip('Docker is not available');
    const { rig, run } = await setup('slurm-docker', 32, '  runtime: docker\n');
    const r = await run(['--only', 'proposer_sft']);
    assert.equal(r.exitCode, 0, r.all);
    const script = readFileSync(join(rig.runDir, 'slurm', 'r1-proposer_sft.attempt1.sbatch'), 'utf8');
    assert.match(script, /docker run --rm --init --name flux-\$SLURM_JOB_ID-\$SLURM_PROCID/);
    assert.ok(existsSync(join(rig.runDir, 'outputs/r1/proposer_sft/train_results.json')));
    assert.deepEqual(readdirSync(join(rig.runDir, 'outputs/r1')).sort(), ['proposer_sft']);
  });
});

describe('Slurm job states as generic exits', () => {
  it('calls COMPLETED a success, maps the states that name a cause, and leaves FAILED to the log', () => {
    assert.deepEqual(slurmExit({ state: 'COMPLETED', exitCode: 0, reason: '' }), { kind: 'exited', exitCode: 0, oomKilled: false });
    assert.deepEqual(slurmExit({ state: 'TIMEOUT', exitCode: 0, reason: '' }), { kind: 'exited', exitCode: 0, oomKilled: false, verdict: { cause: 'timeout', evidence: 'Slurm job state TIMEOUT', logLines: 3 } });
    const oom = slurmExit({ state: 'OUT_OF_MEMORY', exitCode: 137, reason: '' });
    assert.ok(oom.kind === 'exited' && oom.oomKilled && oom.verdict?.cause === 'host-oom');
    const failed = slurmExit({ state: 'FAILED', exitCode: 0, reason: '' });
    assert.ok(failed.kind === 'exited' && failed.verdict !== undefined && failed.verdict.cause === undefined, 'FAILED is never a clean exit, even with exit code 0');
    const cancelled = slurmExit({ state: 'CANCELLED', exitCode: 0, reason: '' });
    assert.ok(cancelled.kind === 'exited' && cancelled.verdict?.cause === 'interrupted');
    assert.deepEqual(slurmExit({ state: 'UNKNOWN', exitCode: null, reason: 'not known to the controller or the accounting' }), { kind: 'lost', why: 'Slurm: not known to the controller or the accounting' });
  });
});
