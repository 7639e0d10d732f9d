import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { slurmReady } from '../helpers/slurm.js';
import { projectRoot } from '../../src/util/project-root.js';
import { Rig } from '../helpers/rig.js';

/** A real single-node Slurm (SLURM_CONF=/tmp/flux-ci/ci/slurm/slurm.conf), the stand-in trainer as a host script. */
const skip = await slurmReady();

describe('Slurm backend with --max-parallel 2', { skip }, () => {
  const rig = new Rig('slurm-parallel');
  after(() => rig.cleanup());

  it('submits every ready stage as its own job at once: two jobs in flight, nothing submitted twice', async () => {
    await rig.demo((y) =>
      y.replace('gpus: none', 'gpus: none\nbackend: slurm\nslurm:\n  gpus_per_node: 0\n  cpus_per_task: 1\n  runtime: none\n  poll_seconds: 0.2\n').replace('backoff_seconds: 1', 'backoff_seconds: 0'),
    );
    const env = rig.path('standin-env');
    mkdirSync(join(env, 'bin'), { recursive: true });
    symlinkSync(join(projectRoot, 'docker', 'standin', 'llamafactory-cli'), join(env, 'bin', 'llamafactory-cli'));
    const keys = join(env, 'keys.txt');
    writeFileSync(keys, (await execa(process.execPath, [join(projectRoot, 'scripts', 'keys-list.mjs')])).stdout);
    rig.write('run/standin-control/.keep', '');
    for (const k of ['r1/proposer_sft', 'r1/reasoner_dpo']) rig.control(k, 'step_ms=500');
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--local-env', env, '--max-parallel', '2'], { STANDIN_KEYS: keys }, 300_000);
    assert.equal(r.exitCode, 0, r.all);
    const ev = rig.events();
    const at = (type: string, key: string) => ev.findIndex((e) => e.type === type && 'key' in e && e.key === key);
    // both jobs submitted before either ended: two in flight at once, Slurm placing them
    assert.ok(at('stage-started', 'r1/reasoner_dpo') < at('stage-finished', 'r1/proposer_sft'), 'reasoner_dpo was submitted only after proposer_sft ended');
    assert.ok(at('stage-started', 'r1/proposer_sft') < at('stage-finished', 'r1/reasoner_dpo'));
    const jobs = ev.filter((e) => e.type === 'stage-started').map((e) => (e.type === 'stage-started' ? e.handle.id : ''));
    assert.equal(new Set(jobs).size, jobs.length);
    const ledger = readFileSync(join(rig.runDir, 'standin-control', 'ledger'), 'utf8').split('\n');
    for (const k of ['r1-proposer_sft', 'r1-proposer_dpo', 'r1-reasoner_dpo']) assert.equal(ledger.filter((l) => l.startsWith(`start ${k} `)).length, 1, `${k} trained once`);
    assert.ok(Object.values(rig.state().stages).every((s) => s.status === 'done'));
  });
});
