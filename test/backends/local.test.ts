import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../../src/util/project-root.js';
import { LocalBackend } from '../../src/backends/local.js';
import type { JobSpec } from '../../src/backends/backend.js';
import type { Plan, PlanStage } from '../../src/pipeline/plan-types.js';
import { RunDir } from '../../src/util/run-layout.js';
import { procStartTime, sameProcessAlive } from '../../src/util/proc.js';
import { Rig, waitFor } from '../helpers/rig.js';

/** The stand-in trainer as a host program in a fake "venv" (bin/llamafactory-cli), as the local backend expects. */
async function standinEnv(rig: Rig): Promise<string> {
  const env = rig.path('standin-env');
  mkdirSync(join(env, 'bin'), { recursive: true });
  symlinkSync(join(projectRoot, 'docker', 'standin', 'llamafactory-cli'), join(env, 'bin', 'llamafactory-cli'));
  const keys = await execa(process.execPath, [join(projectRoot, 'scripts', 'keys-list.mjs')]);
  writeFileSync(join(env, 'keys.txt'), keys.stdout);
  return env;
}

describe('local-process backend (stand-in trainer on the host)', () => {
  const rig = new Rig('local');
  let env: string;
  let run: (extra?: string[], e?: Record<string, string>) => ReturnType<Rig['cli']>;
  before(async () => {
    await rig.demo((y) => y.replace('backoff_seconds: 1', 'backoff_seconds: 0'));
    env = await standinEnv(rig);
    run = (extra = [], e = {}) => rig.cli(['round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--backend', 'local', '--local-env', env, ...extra], { STANDIN_KEYS: join(env, 'keys.txt'), ...e });
  });
  after(() => rig.cleanup());

  it('runs the same pipeline as host processes, with handoffs and host paths', async () => {
    const r = await run();
    assert.equal(r.exitCode, 0, r.all);
    assert.match(readFileSync(join(rig.runDir, 'outputs/r2/proposer_dpo/model.safetensors'), 'utf8'), new RegExp(`from ${rig.runDir}/outputs/r1/proposer_dpo`));
    assert.match(readFileSync(join(rig.runDir, 'outputs/r1/sample_pairs/dpo_reasoner.jsonl'), 'utf8'), new RegExp(`sampled from ${rig.runDir}/outputs/r1/reasoner_dpo`));
    const s = rig.state();
    assert.ok(Object.values(s.stages).every((x) => x.status === 'done'));
    const h = s.stages['r1/proposer_sft']?.attempts[0]?.handle;
    assert.equal(h?.backend, 'local');
    const proc = h?.backend === 'local' ? h.process : undefined;
    assert.ok((proc?.pid ?? 0) > 0 && (proc?.startTime ?? 0) > 0, 'pid and process start time are recorded');
    assert.ok(existsSync(join(rig.runDir, 'logs/r1-proposer_sft.attempt1.exit')), 'the wrapper wrote the exit status');
    const again = await run();
    assert.match(again.stdout, /done: 7 skipped/);
    // flux-train logs: the newest attempt of the stage's latest round
    const logs = await rig.cli(['logs', 'proposer_dpo', '--run-dir', 'run']);
    assert.equal(logs.exitCode, 0, logs.all);
    assert.match(logs.stdout, new RegExp(`training finished: dpo model=${rig.runDir}/outputs/r1/proposer_dpo output=${rig.runDir}/outputs/r2/proposer_dpo`));
    // --from: this stage and everything after it, across rounds
    const dry = await rig.cli(['round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--backend', 'local', '--local-env', env, '--from', 'reasoner_dpo', '--dry-run', '--json']);
    const plan = JSON.parse(dry.stdout) as { stages: { key: string; action: string }[] };
    assert.deepEqual(
      plan.stages.filter((x) => x.action === 'rerun').map((x) => x.key),
      ['r1/reasoner_dpo', 'r1/sample_pairs', 'r2/proposer_dpo', 'r2/reasoner_dpo', 'r2/sample_pairs'],
    );
  });

  it('classifies failures from the process exit and log, and retries transient ones', async () => {
    rig.control('r1/proposer_sft', 'fail_at=2 mode=nccl once=1');
    const r = await run(['--restart-stage', 'proposer_sft', '--only', 'proposer_sft']);
    assert.equal(r.exitCode, 0, r.all);
    const f = rig.events().filter((e) => e.type === 'stage-failed');
    assert.equal(f.at(-1)?.type === 'stage-failed' && f.at(-1)?.cause, 'nccl');
  });

  it('the training outlives a SIGKILLed CLI and is re-attached, never started twice', async () => {
    rig.control('r1/proposer_sft', 'step_ms=400');
    const starts = () => rig.events().filter((e) => e.type === 'stage-started' && e.key === 'r1/proposer_sft').length;
    const before = starts();
    const child = run(['--restart-stage', 'proposer_sft', '--only', 'proposer_sft']);
    await waitFor(() => starts() > before && existsSync(join(rig.runDir, 'outputs/r1/proposer_sft/checkpoint-4')), 30_000, 'a checkpoint of the new attempt');
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    const s = rig.state();
    const last = s.stages['r1/proposer_sft']?.attempts.at(-1);
    const proc = last?.handle?.backend === 'local' ? last.handle.process : undefined;
    assert.ok(proc && sameProcessAlive(proc.pid, proc.startTime), 'the trainer survived the CLI');
    const n = s.stages['r1/proposer_sft']?.attempts.length;
    const r = await run(['--only', 'proposer_sft']);
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /re-attached to attempt \d+ \(pid \d+, still running\)/);
    assert.equal(rig.state().stages['r1/proposer_sft']?.attempts.length, n, 'no new attempt');
  });

  it('never mistakes a reused pid for the training', async () => {
    const p = execa('sleep', ['5']);
    const pid = p.pid as number;
    const st = procStartTime(pid);
    assert.ok(st !== undefined);
    assert.equal(sameProcessAlive(pid, st), true);
    assert.equal(sameProcessAlive(pid, st + 1), false, 'same pid, other start time: another process');
    p.kill();
    await p.catch(() => undefined);
  });

  it('says how to get llamafactory-cli when the environment has none', async () => {
    const empty = rig.path('empty-env');
    mkdirSync(join(empty, 'bin'), { recursive: true });
    chmodSync(join(empty, 'bin'), 0o755);
    const r = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run2', '--backend', 'local', '--local-env', empty]);
    assert.equal(r.exitCode, 4);
    assert.match(r.stderr, /no llamafactory-cli in .*empty-env\/bin/);
    assert.match(r.stderr, /setup-llamafactory-venv\.sh/);
  });
});

/**
 * Torch elastic starts its workers with start_new_session=True: outside the wrapper's process group,
 * orphaned once their parent exits. The fixture stands in for it: a child that calls setsid and
 * ignores SIGTERM, under a parent that exits on SIGTERM.
 */
describe('local backend: workers in a session of their own', () => {
  const rig = new Rig('local-tree');
  after(() => rig.cleanup());
  const WORKER = `setsid sh -c 'trap "" TERM; echo $$ > worker.pid; while :; do sleep 0.1; done' & wait`;

  function job(name: string): { backend: LocalBackend; spec: JobSpec; worker: () => { pid: number; startTime: number } | undefined } {
    const runDir = rig.path(name);
    mkdirSync(runDir, { recursive: true });
    const stage = { key: 'r1/trainer', id: 'trainer', kind: 'command', env: {}, gpus: 'none', workdir: runDir, command: ['sh', '-c', WORKER] } as unknown as PlanStage;
    const spec: JobSpec = { runId: 'run-1', runDir, stage, attempt: 1, fingerprint: 'fp', logPath: new RunDir(runDir).attemptLog('r1/trainer', 1) };
    const worker = () => {
      const f = join(runDir, 'worker.pid');
      if (!existsSync(f)) return undefined;
      const pid = Number(readFileSync(f, 'utf8').trim());
      const startTime = procStartTime(pid);
      return startTime === undefined ? undefined : { pid, startTime };
    };
    return { backend: new LocalBackend({ runDir } as Plan, { warn: () => undefined, pollMs: 50 }), spec, worker };
  }
  const killWorker = (w: { pid: number } | undefined) => {
    try {
      if (w) process.kill(w.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };

  it('stop() ends the worker in its own session too (SIGTERM, then SIGKILL after the grace period)', async () => {
    const { backend, spec, worker } = job('stop-tree');
    const started = await backend.start(spec);
    assert.ok(started.ok);
    await waitFor(() => worker() !== undefined, 10_000, 'the worker to start');
    const w = worker();
    try {
      await backend.stop(started.value, 1);
      await waitFor(() => !sameProcessAlive(w?.pid ?? 0, w?.startTime), 5_000, 'the worker to be killed');
    } finally {
      killWorker(w);
    }
  });

  it('a worker left alive after the wrapper exited keeps the job running for the next CLI (never a second trainer)', async () => {
    const { backend, spec, worker } = job('orphan');
    const started = await backend.start(spec);
    assert.ok(started.ok);
    const handle = started.value;
    const following = backend.follow(handle, spec, { resume: false });
    let followed = false;
    void following.then(() => (followed = true));
    const treeFile = new RunDir(spec.runDir).attemptTreeFile('r1/trainer', 1);
    const recorded = (pid: number) => existsSync(treeFile) && (JSON.parse(readFileSync(treeFile, 'utf8')) as { pid: number }[]).some((p) => p.pid === pid);
    await waitFor(() => worker() !== undefined && recorded(worker()?.pid ?? 0), 10_000, 'the worker and its record');
    const w = worker();
    try {
      // what an old stop did: only the wrapper's group; the wrapper exits, the worker is orphaned
      const wrapper = handle.backend === 'local' ? handle.process.pid : 0;
      process.kill(-wrapper, 'SIGTERM');
      await waitFor(() => existsSync(new RunDir(spec.runDir).attemptExitFile('r1/trainer', 1)), 10_000, 'the wrapper to exit');
      assert.ok(sameProcessAlive(w?.pid ?? 0, w?.startTime), 'the fixture worker survived its group being signalled');
      // a new CLI (a new backend object) sees the job as still running: re-attached, not started again
      const live = await job('orphan').backend.findJob('run-1', spec.stage);
      assert.equal(live?.running, true, 'a live worker means the job still runs');
      assert.match(live?.stopCommand ?? '', new RegExp(` ${w?.pid}\\b`), 'the stop command names the worker');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(followed, false, 'following goes on while the worker lives');
      await backend.stop(handle, 0);
      const exit = await following;
      assert.equal(exit.kind, 'exited');
      assert.equal(sameProcessAlive(w?.pid ?? 0, w?.startTime), false);
      assert.equal((await job('orphan').backend.findJob('run-1', spec.stage))?.running, false);
    } finally {
      killWorker(w);
    }
  });
});
