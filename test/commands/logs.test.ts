import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { BIN, Rig, sleep } from '../helpers/rig.js';

describe('flux-train logs', () => {
  const rig = new Rig('logs');
  after(() => rig.cleanup());
  const state = (bStatus: string) =>
    JSON.stringify({
      schema: 1,
      sessions: [],
      stages: {
        'r1/proposer_sft': { key: 'r1/proposer_sft', status: 'done', attempts: [{ n: 1, startedAt: '2026-01-01T00:00:00.000Z' }, { n: 2, startedAt: '2026-01-01T00:01:00.000Z' }] },
        'r2/proposer_sft': { key: 'r2/proposer_sft', status: bStatus, attempts: [] },
      },
    });
  rig.write('run/state.json', state('pending'));
  rig.write('run/logs/r1-proposer_sft.attempt1.log', 'first try\n');
  rig.write('run/logs/r1-proposer_sft.attempt2.log', 'second try\n');
  const cli = (args: string[]) => execa(process.execPath, [BIN, 'logs', ...args, '--run-dir', rig.runDir], { reject: false });

  it('prints the newest attempt, with a header on stderr naming the stage, the attempt and the file', async () => {
    const r = await cli(['r1/proposer_sft']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'second try');
    assert.equal(r.stderr, `==> r1/proposer_sft, attempt 2: ${rig.runDir}/logs/r1-proposer_sft.attempt2.log <==`);
    const first = await cli(['r1/proposer_sft', '--attempt', '1']);
    assert.equal(first.stdout, 'first try');
  });

  it('a mistyped stage gets "did you mean"', async () => {
    const r = await cli(['propser_sft']);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /^flux-train logs: no stage "propser_sft" in \S+; did you mean proposer_sft\? stages: /);
  });

  it('a stage that has not started: an error without -f, and -f waits for it', async () => {
    const now = await cli(['r2/proposer_sft']);
    assert.equal(now.exitCode, 2);
    assert.match(now.stderr, /no log for r2\/proposer_sft yet: it has not started; follow it from its start with `flux-train logs r2\/proposer_sft -f`/);
    const follow = cli(['proposer_sft', '-f']);
    await sleep(1500);
    rig.write('run/logs/r2-proposer_sft.attempt1.log', 'round two\n');
    rig.write('run/state.json', state('done'));
    const r = await follow;
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'round two');
    assert.match(r.stderr, /^waiting for r2\/proposer_sft to start/);
    assert.match(r.stderr, /==> r2\/proposer_sft, attempt 1: /);
  });

  it('a secret the job printed into its own log is masked in what logs prints', async () => {
    rig.write('run/logs/r1-proposer_sft.attempt3.log', 'login with hf_abcdefghijkl failed\nWANDB=wandb-secret-42\n');
    const r = await execa(process.execPath, [BIN, 'logs', 'r1/proposer_sft', '--run-dir', rig.runDir], { reject: false, env: { HF_TOKEN: 'hf_abcdefghijkl', MY_API_KEY: 'wandb-secret-42' } });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'login with *** failed\nWANDB=***');
  });

  // review of issue 16: logs masked only secret-looking names, not the pipeline's pass_env
  it('masks the values of the pipeline\'s pass_env, whatever their names', async () => {
    const file = await rig.demo((y) => y.replace('docker:\n', 'docker:\n  pass_env: [MY_CRED]\n'));
    rig.write('cred/state.json', JSON.stringify({ schema: 1, sessions: [], pipeline: file, stages: { 'r1/proposer_sft': { key: 'r1/proposer_sft', status: 'done', attempts: [{ n: 1, startedAt: '2026-01-01T00:00:00.000Z' }] } } }));
    rig.write('cred/logs/r1-proposer_sft.attempt1.log', 'token is hunter2-cred-value here\n');
    const r = await execa(process.execPath, [BIN, 'logs', 'r1/proposer_sft', '--run-dir', rig.path('cred')], { reject: false, env: { MY_CRED: 'hunter2-cred-value' } });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'token is *** here');
  });
});
