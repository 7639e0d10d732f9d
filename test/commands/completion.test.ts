import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { buildProgram } from '../../src/cli.js';
import { bashScript, commandSpecs, fishScript } from '../../src/commands/completion.js';
import { BIN, Rig } from '../helpers/rig.js';

describe('shell completion', () => {
  const rig = new Rig('completion');
  after(() => rig.cleanup());
  rig.write('bin/flux-train', `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(rig.path('bin/flux-train'), 0o755);
  rig.write('pipelines/p.yaml', 'name: p\nstages:\n  - id: proposer_sft\n  - id: reasoner_dpo\n');
  rig.write('runs/p/state.json', JSON.stringify({ schema: 1, sessions: [], pipeline: 'pipelines/p.yaml', rounds: 2, stages: { 'r1/proposer_sft': { key: 'r1/proposer_sft', status: 'done', attempts: [] }, 'r2/reasoner_dpo': { key: 'r2/reasoner_dpo', status: 'failed', attempts: [] } } }));

  /** What bash offers after typing `line` and pressing Tab, with the script flux-train prints. */
  async function complete(line: string): Promise<string[]> {
    const words = line.split(' ');
    const script = `source <(flux-train completion bash)\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})\nCOMP_CWORD=${words.length - 1}\n_flux_train\nprintf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await execa('bash', ['-c', script], { cwd: rig.dir, env: { PATH: `${rig.path('bin')}:${process.env['PATH'] ?? ''}` }, reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).sort();
  }

  it('bash: commands, options, choices, and the stage keys of the run for logs, --only and --from', async () => {
    assert.deepEqual(await complete('flux-train rou'), ['round']);
    assert.ok((await complete('flux-train re')).includes('resume'));
    assert.ok((await complete('flux-train round --re')).includes('--restart-stage'));
    assert.deepEqual(await complete('flux-train round --backend '), ['docker', 'local', 'slurm']);
    assert.deepEqual(await complete('flux-train logs r'), ['r1/proposer_sft', 'r2/reasoner_dpo', 'reasoner_dpo']);
    assert.deepEqual(await complete('flux-train round --pipeline pipelines/p.yaml --only pro'), ['proposer_sft']);
    assert.deepEqual(await complete('flux-train round --from r2'), ['r2/reasoner_dpo']);
    assert.deepEqual(await complete('flux-train completion '), ['bash', 'fish', 'zsh']);
  });

  it('is generated from the command tree: a command added later is completed too', () => {
    const program = buildProgram();
    program.command('frobnicate').description('remove a stale lock').option('-r, --run-dir <dir>', 'run dir');
    const specs = commandSpecs(program);
    assert.ok(specs.some((c) => c.name === 'frobnicate'));
    assert.ok(!specs.some((c) => c.name.startsWith('__')), 'hidden commands stay hidden');
    assert.match(bashScript(specs), /\bfrobnicate\)/);
    assert.match(fishScript(specs), /-a frobnicate -d 'remove a stale lock'/);
  });

  it('zsh and fish scripts print', async () => {
    const zsh = await execa(process.execPath, [BIN, 'completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef flux-train/);
    assert.match(zsh.stdout, /bashcompinit/);
    const fish = await execa(process.execPath, [BIN, 'completion', 'fish']);
    assert.match(fish.stdout, /complete -c flux-train -n "__fish_seen_subcommand_from logs" -a "\(__flux_train_stages\)"/);
  });
});
