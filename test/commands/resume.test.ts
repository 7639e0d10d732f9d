import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { keptOptions } from '../../src/commands/resume.js';
import { Rig } from '../helpers/rig.js';
import { standinEnv } from '../helpers/standin-env.js';

describe('resume', () => {
  it('keeps the plan options of the round it continues, never the ones that select reruns', () => {
    assert.deepEqual(
      keptOptions(['--n', '3', '-p', 'pipelines/x.yaml', '--gpus', '0,1', '--image=i:1', '--only', 'a,b', '--only', 'c', '--restart-stage', 'a', '--from', 'b', '--hash-data', '--grace', '5']),
      { pipeline: 'pipelines/x.yaml', gpus: '0,1', image: 'i:1', only: ['a', 'b', 'c'], hashData: true },
    );
    assert.deepEqual(keptOptions(['--gpus', '2']), { gpus: 2 });
    assert.deepEqual(keptOptions(['--gpus', 'bogus']), {});
  });

  // review of issue 11: resume from another directory lost the relative --pipeline and --local-env
  describe('from another directory', () => {
    const rig = new Rig('resume-cwd');
    after(() => rig.cleanup());

    it('resume --run-dir ABS finds the pipeline and the --local-env that round was given relative to its own directory', async () => {
      await rig.demo(undefined, 8);
      const { keys } = await standinEnv(rig);
      rig.control('r1/proposer_sft', 'fail_at=2 mode=exit3');
      const first = await rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--backend', 'local', '--local-env', 'standin-env'], { STANDIN_KEYS: keys });
      assert.equal(first.exitCode, 1, first.all);
      const started = rig.events().find((e) => e.type === 'run-started');
      assert.ok(started?.type === 'run-started' && started.pipelinePath === rig.path('pipelines/demo.yaml') && started.cwd === rig.dir, JSON.stringify(started));
      rmSync(rig.path('run', 'standin-control', 'r1-proposer_sft'));
      const elsewhere = rig.path('elsewhere');
      mkdirSync(elsewhere);
      const r = await rig.cli(['resume', '--run-dir', rig.runDir], { STANDIN_KEYS: keys }, 120_000, elsewhere);
      assert.equal(r.exitCode, 0, r.all);
      assert.equal(rig.state().stages['r1/proposer_sft']?.status, 'done');
    });

    it('names round --pipeline, not a --pipeline resume does not take, when the pipeline is gone', async () => {
      renameSync(rig.path('pipelines/demo.yaml'), rig.path('pipelines/moved.yaml'));
      const r = await rig.cli(['resume', '--run-dir', rig.runDir], {}, 60_000, rig.path('elsewhere'));
      assert.equal(r.exitCode, 2, r.all);
      assert.match(r.stderr, new RegExp(`the run's pipeline ${rig.path('pipelines/demo.yaml')} is gone`));
      assert.match(r.stderr, /flux-train round --n 1 --pipeline FILE --run-dir .* \(resume takes no --pipeline\)/);
    });

    it('resolves a run from before the directory was recorded against the current directory', async () => {
      renameSync(rig.path('pipelines/moved.yaml'), rig.path('pipelines/demo.yaml'));
      const events = readFileSync(rig.path('run', 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const e of events) {
        delete e['cwd'];
        delete e['pipelinePath'];
        if (e['type'] === 'run-started') e['pipeline'] = 'pipelines/demo.yaml';
      }
      writeFileSync(rig.path('run', 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
      const state = JSON.parse(readFileSync(rig.path('run', 'state.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(rig.path('run', 'state.json'), JSON.stringify({ ...state, pipeline: 'pipelines/demo.yaml' }));
      const r = await rig.cli(['resume', '--run-dir', rig.runDir, '--dry-run'], {}, 60_000);
      assert.equal(r.exitCode, 0, r.all);
    });
  });
});
