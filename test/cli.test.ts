import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { buildProgram } from '../src/cli.js';
import { BIN, Rig } from './helpers/rig.js';

const cli = (args: string[], cwd?: string) => execa(process.execPath, [BIN, ...args], { reject: false, ...(cwd ? { cwd } : {}) });

describe('CLI conventions', () => {
  const usage: [string[], RegExp][] = [
    [['frobnicate'], /^flux-train: unknown command 'frobnicate'$/],
    [['round', '--n', '2', '--frm', 'x'], /^flux-train round: unknown option '--frm' \(did you mean --from\?\)$/],
    [['round', '--n', '2', '--max-attempts', 'abc'], /^flux-train round: option '--max-attempts <n>' argument 'abc' is invalid\. --max-attempts must be a whole number from 1 to 100\.$/],
    [['round', '--n', '2', '--grace', '-5'], /^flux-train round: option '--grace <seconds>' argument '-5' is invalid\./],
    [['round', '--n', 'three'], /^flux-train round: option '-n, --n <rounds>' argument 'three' is invalid/],
    [['round', '--n', '1', '--gpus', 'nine'], /^flux-train round: option '--gpus <spec>' argument 'nine' is invalid\. --gpus "nine" is not all, none, a count, a list of ids or a range/],
    [['round'], /^flux-train round: the number of rounds is missing; pass --n N/],
    [['resume', '--n', '3'], /^flux-train resume: unknown option '--n'$/],
    [['resume', '--only', 'proposer_sft'], /^flux-train resume: unknown option '--only'$/],
    [['logs'], /^flux-train logs: missing required argument 'stage'$/],
    [['logs', 'x', '--attempt', '0'], /^flux-train logs: option '--attempt <n>' argument '0' is invalid/],
    [['completion', 'tcsh'], /^flux-train completion: no completion for the shell "tcsh"; use bash, zsh or fish$/],
  ];
  for (const [args, first] of usage) {
    it(`\`flux-train ${args.join(' ')}\`: exit 2, the error, then where the help is`, async () => {
      const r = await cli(args);
      assert.equal(r.exitCode, 2, r.stderr);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0] ?? '', first);
      const cmd = args[0] === 'frobnicate' ? 'flux-train' : `flux-train ${args[0]}`;
      assert.equal(lines[1], `see ${cmd} --help`);
      assert.equal(r.stdout, '');
    });
  }

  it('shows required options as required', async () => {
    const round = await cli(['round', '--help']);
    assert.equal(round.exitCode, 0);
    assert.match(round.stdout, /^Usage: flux-train round --n N \[options\]$/m);
    assert.match(round.stdout, /-n, --n <rounds>\s+number of rounds \(required\)/);
    const config = await cli(['config', '--help']);
    assert.match(config.stdout, /-o, --out <dir>\s+output folder \(required\)/);
  });

  it('resume takes only the options that say how to run, never what', () => {
    const program = buildProgram();
    const flags = (name: string) => new Set(program.commands.find((c) => c.name() === name)?.options.map((o) => o.long));
    const resume = flags('resume');
    for (const f of ['--n', '--pipeline', '--only', '--from', '--restart-stage', '--backend', '--image', '--gpus', '--hash-data']) assert.ok(!resume.has(f), f);
    for (const f of ['--run-dir', '--dry-run', '--json', '--quiet', '--detach', '--grace', '--max-attempts', '--backoff', '--local-env']) assert.ok(resume.has(f), f);
    // and everything resume takes, round takes too
    const round = flags('round');
    for (const f of resume) assert.ok(round.has(f), f);
  });

  it('status, logs and repair find the run of --pipeline, else the newest run under runs/, and say which', async () => {
    const rig = new Rig('rundir');
    try {
      rig.write('runs/older/state.json', JSON.stringify({ schema: 1, sessions: [], stages: {}, pipeline: 'p.yaml', rounds: 1 }));
      await new Promise((r) => setTimeout(r, 20));
      rig.write('runs/newer/state.json', JSON.stringify({ schema: 1, sessions: [], stages: {}, pipeline: 'p.yaml', rounds: 1, pipelineName: 'newer' }));
      rig.write('pipelines/p.yaml', 'name: older\n');
      const newest = await cli(['status'], rig.dir);
      assert.equal(newest.exitCode, 0, newest.stderr);
      assert.match(newest.stderr, /^run dir: runs\/newer \(the most recent of 2 under runs\/; --run-dir or --pipeline picks another\)$/m);
      assert.match(newest.stdout, /^run \S+\/runs\/newer /);
      const byPipeline = await cli(['status', '--pipeline', 'pipelines/p.yaml'], rig.dir);
      assert.equal(byPipeline.exitCode, 0, byPipeline.stderr);
      assert.match(byPipeline.stdout, /^run \S+\/runs\/older /);
      assert.equal(byPipeline.stderr, '');
    } finally {
      rig.cleanup();
    }
  });
});
