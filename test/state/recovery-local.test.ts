import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from '../../src/backends/local.js';
import type { Plan } from '../../src/pipeline/plan-types.js';
import { pidAlive } from '../../src/util/proc.js';
import { Rig, waitFor } from '../helpers/rig.js';
import { standinEnv } from '../helpers/standin-env.js';

/**
 * Issue 10 regressions on the local backend (stand-in trainer as host processes, no Docker):
 * a lost state.json, attempt numbers, an untrusted pid record, secrets in failure output.
 */
describe('run dir recovery and trust (local backend)', () => {
  const rig = new Rig('recover');
  let round: (runDir: string, extra?: string[], env?: Record<string, string>) => ReturnType<Rig['cli']>;
  const launches = (runDir: string): string[] => {
    const p = join(runDir, 'standin-control', 'ledger');
    return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l.startsWith('launch ')) : [];
  };
  const fresh = async (name: string): Promise<string> => {
    const dir = rig.path(name);
    mkdirSync(join(dir, 'standin-control'), { recursive: true });
    const r = await round(name);
    assert.equal(r.exitCode, 0, r.all);
    return dir;
  };

  before(async () => {
    await rig.demo(
      (y) =>
        y
          .replace('backoff_seconds: 1', 'backoff_seconds: 0')
          .replace('        echo "wrote preference pairs for round $((FLUX_ROUND + 1))"', '        echo "wrote preference pairs for round $((FLUX_ROUND + 1))"\n        if [ -n "$FLUX_FAIL_WITH_TOKEN" ]; then echo "401 Unauthorized for token $HF_TOKEN" >&2; exit 3; fi')
          .replace('    kind: command\n', '    kind: command\n    env: {MY_TEST_SETTING: clear-setting-value}\n'),
      8,
    );
    const { env, keys } = await standinEnv(rig);
    round = (runDir, extra = [], e = {}) => rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', runDir, '--backend', 'local', '--local-env', env, ...extra], { STANDIN_KEYS: keys, ...e });
  });
  after(() => rig.cleanup());

  it('rebuilds a deleted state.json from the event log and retrains nothing', async () => {
    const dir = await fresh('lost-state');
    assert.equal(launches(dir).length, 3);
    rmSync(join(dir, 'state.json'));
    const dry = await round('lost-state', ['--dry-run', '--json']);
    assert.equal(dry.exitCode, 0, dry.all);
    assert.ok((JSON.parse(dry.stdout) as { stages: { action: string }[] }).stages.every((s) => s.action === 'skip'), dry.stdout);
    const r = await round('lost-state');
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.all, /state\.json was missing; rebuilt from \d+ events/);
    assert.match(r.stdout, /4 skipped/);
    assert.equal(launches(dir).length, 3, 'no trainer started again');
    assert.equal(existsSync(join(dir, 'trash')), false, 'no finished output moved to trash');
    const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { stages: Record<string, { status: string }> };
    assert.ok(Object.values(s.stages).every((x) => x.status === 'done'));
  });

  it('numbers new attempts after the highest attempt on disk, so an old attempt1.exit is never read again', async () => {
    const dir = await fresh('attempts');
    rmSync(join(dir, 'state.json'));
    rmSync(join(dir, 'events.jsonl'));
    const r = await round('attempts');
    assert.equal(r.exitCode, 0, r.all);
    const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { stages: Record<string, { attempts: { n: number }[] }> };
    assert.deepEqual(s.stages['r1/proposer_sft']?.attempts.map((a) => a.n), [2]);
    assert.ok(existsSync(join(dir, 'logs', 'r1-proposer_sft.attempt2.exit')));
    assert.equal(launches(dir).filter((l) => l.includes('r1-proposer_sft')).length, 2, 'one start per run, never two trainers at once');
  });

  it('never trusts (or signals) a pid record without a start time', async () => {
    const dir = await fresh('bystander');
    const bystander = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    try {
      const st = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { runId: string; stages: Record<string, { done: { fingerprint: string } }> };
      const pid = bystander.pid as number;
      writeFileSync(
        join(dir, 'logs', 'r1-proposer_sft.attempt5.pid.json'),
        JSON.stringify({ pid, attempt: 5, fingerprint: st.stages['r1/proposer_sft']?.done.fingerprint, exitFile: join(dir, 'logs', 'x.exit'), logPath: join(dir, 'logs', 'x.log'), key: 'r1/proposer_sft', runId: st.runId }),
      );
      const dry = await round('bystander', ['--dry-run', '--json']);
      const plan = JSON.parse(dry.stdout) as { stages: { key: string; action: string }[] };
      assert.equal(plan.stages.find((s) => s.key === 'r1/proposer_sft')?.action, 'skip', dry.stdout);
      // a handle without a start time is never signalled, whoever asks
      await new LocalBackend({} as Plan, { warn: () => undefined }).stop({ backend: 'local', id: String(pid), process: { pid } }, 0);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(pidAlive(pid), 'the bystander still runs');
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('--detach: a job that finished while no CLI watched has its outcome read, never started again', async () => {
    const dir = rig.path('detach-done');
    mkdirSync(join(dir, 'standin-control'), { recursive: true });
    writeFileSync(join(dir, 'standin-control', 'r1-proposer_sft'), 'step_ms=300\n');
    const child = round('detach-done', ['--detach']);
    await waitFor(() => existsSync(join(dir, 'outputs/r1/proposer_sft/trainer_log.jsonl')), 30_000, 'training to start');
    child.kill('SIGINT');
    const r = await child;
    assert.equal(r.exitCode, 130, r.all);
    await waitFor(() => existsSync(join(dir, 'logs/r1-proposer_sft.attempt1.exit')), 30_000, 'the detached job to finish');
    const again = await round('detach-done');
    assert.equal(again.exitCode, 0, again.all);
    assert.match(again.all, /r1\/proposer_sft: re-attached to attempt 1/);
    assert.equal(launches(dir).filter((l) => l.includes('r1-proposer_sft')).length, 1, 'the finished job was not started again');
  });

  it('--hash-data on an unchanged finished run reruns nothing (datasets compared in the recorded mode)', async () => {
    const dir = await fresh('hash-data');
    const dry = await round('hash-data', ['--hash-data', '--dry-run', '--json']);
    assert.equal(dry.exitCode, 0, dry.all);
    assert.deepEqual((JSON.parse(dry.stdout) as { stages: { action: string }[] }).stages.map((s) => s.action), ['skip', 'skip', 'skip', 'skip'], dry.stdout);
    const r = await round('hash-data', ['--hash-data']);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(launches(dir).length, 3, 'no trainer started again');
    // a dataset that really changed still reruns what reads it
    const data = readFileSync(join(rig.dir, '.demo', 'data', 'sft.jsonl'), 'utf8');
    writeFileSync(join(rig.dir, '.demo', 'data', 'sft.jsonl'), `${data}${data.split('\n')[0]}\n`);
    try {
      const changed = await round('hash-data', ['--hash-data', '--dry-run', '--json']);
      assert.equal((JSON.parse(changed.stdout) as { stages: { key: string; action: string }[] }).stages.find((s) => s.key === 'r1/proposer_sft')?.action, 'rerun', changed.stdout);
    } finally {
      writeFileSync(join(rig.dir, '.demo', 'data', 'sft.jsonl'), data);
    }
  });

  it('masks secrets in failure evidence, events.jsonl, state.json, flux-train.log and the terminal; fingerprints hold env hashes', async () => {
    const token = 'hf_FakeSecretValue0123456789';
    const dir = rig.path('secrets');
    const r = await round('secrets', [], { HF_TOKEN: token, FLUX_FAIL_WITH_TOKEN: '1' });
    assert.equal(r.exitCode, 1, r.all);
    assert.match(r.all, /401 Unauthorized for token \*\*\*/, 'the evidence is shown, masked');
    assert.doesNotMatch(r.all, new RegExp(token));
    for (const f of ['events.jsonl', 'state.json', 'flux-train.log']) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.doesNotMatch(text, new RegExp(token), f);
      assert.doesNotMatch(text, /clear-setting-value/, `${f}: env values are hashed in fingerprints`);
    }
    assert.match(readFileSync(join(dir, 'events.jsonl'), 'utf8'), /for token \*\*\*/);
    const st = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { stages: Record<string, { fields?: Record<string, string> }> };
    assert.match(st.stages['r1/sample_pairs']?.fields?.['env.MY_TEST_SETTING'] ?? '', /^sha:/);
  });
});
