import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { containerView, hostView, manualView, trainerViewFor } from '../../src/backends/trainer-view.js';
import { loadPipeline } from '../../src/pipeline/load.js';
import { projectRoot } from '../../src/util/project-root.js';

const loaded = loadPipeline(join(projectRoot, 'pipelines', 'demo-standin.yaml'));
assert.ok(loaded.ok);
const p = loaded.value;
const sha8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);

describe('trainer views', () => {
  it('docker: the run dir at /flux/run, the HF cache mounted, each outside input mounted read-only once', () => {
    const v = containerView({ hfCache: '/cache/hf' })('/runs/x', p);
    assert.equal(v.runDir, '/flux/run');
    assert.equal(v.runPath('/runs/x/outputs/r1/a'), '/flux/run/outputs/r1/a');
    assert.deepEqual(v.env, { HF_HOME: '/flux/hf-cache' });
    const first = v.inputPath('/data/sft.jsonl', 'datasets', 'dataset sft');
    assert.equal(first, `/flux/datasets/${sha8('/data/sft.jsonl')}/sft.jsonl`);
    assert.equal(v.inputPath('/data/sft.jsonl', 'models', 'again'), first, 'one mount per host path');
    assert.deepEqual(
      v.mounts().map((m) => [m.host, m.container, m.mode]),
      [
        ['/runs/x', '/flux/run', 'rw'],
        ['/cache/hf', '/flux/hf-cache', 'rw'],
        ['/data/sft.jsonl', first, 'ro'],
      ],
    );
  });

  it('docker: the HF cache defaults to the pipeline setting, then ~/.cache/huggingface', () => {
    const hf = containerView()('/runs/x', p).mounts()[1];
    assert.equal(hf?.container, '/flux/hf-cache');
    assert.match(hf?.host ?? '', /\.cache\/huggingface$/);
  });

  it('local and slurm: host paths, no mounts; config: paths relative to the config folder', () => {
    for (const b of ['local', 'slurm'] as const) {
      const v = trainerViewFor(b)('/runs/x', p);
      assert.equal(v.runDir, '/runs/x');
      assert.equal(v.runPath('/runs/x/configs/r1-a.yaml'), '/runs/x/configs/r1-a.yaml');
      assert.equal(v.inputPath('/data/sft.jsonl', 'datasets', 'sft'), '/data/sft.jsonl');
      assert.deepEqual(v.mounts(), []);
    }
    assert.equal(trainerViewFor('local'), hostView);
    const m = manualView('/cfg', p);
    assert.equal(m.runDir, '.');
    assert.equal(m.runPath('/cfg/outputs/r1/a'), 'outputs/r1/a');
    assert.deepEqual(m.env, {});
  });
});
