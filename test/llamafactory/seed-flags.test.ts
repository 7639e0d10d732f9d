import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadPipeline } from '../../src/pipeline/load.js';
import { hostView } from '../../src/backends/trainer-view.js';
import { buildPlan } from '../../src/planner/plan.js';
import type { TrainInstance } from '../../src/pipeline/plan-types.js';
import { renderConfigYaml } from '../../src/llamafactory/config-yaml.js';
import { projectRoot } from '../../src/util/project-root.js';

/** The seed README's three commands as flag maps, in file order: proposer SFT, proposer DPO, reasoner DPO. */
function seedCommands(): Map<string, string>[] {
  const text = readFileSync(join(projectRoot, 'test', 'fixtures', 'seed-commands.sh'), 'utf8');
  return text
    .split('llamafactory-cli train')
    .slice(1)
    .map((cmd) => {
      const flags = new Map<string, string>();
      const tokens = cmd.replace(/\\\n/g, ' ').replace(/#.*$/gm, '').split(/\s+/).filter(Boolean);
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i] as string;
        if (t.startsWith('--')) flags.set(t.slice(2), (tokens[i + 1] ?? '').replace(/\\$/, ''));
      }
      return flags;
    });
}

const normalize = (v: string): unknown => (v === 'True' ? true : v === 'False' ? false : /^-?[0-9.]+(e-?[0-9]+)?$/i.test(v) ? Number(v) : v);
const PATH_FLAGS = new Set(['model_name_or_path', 'output_dir', 'dataset_dir', 'deepspeed']);

describe('round 1 of pipelines/reasonflux-v2.yaml reproduces the seed README', () => {
  const p = loadPipeline(join(projectRoot, 'pipelines', 'reasonflux-v2.yaml'));
  assert.ok(p.ok);
  const r = buildPlan(p.value, { rounds: 1, runDir: '/tmp/flux-seed', backend: 'local', view: hostView, dataProblems: 'warning' });
  assert.ok(r.ok);
  const round1 = r.value.plan.stages.filter((s): s is TrainInstance => s.kind === 'train');
  const seeds = seedCommands();

  it('has the three commands', () => {
    assert.equal(seeds.length, 3);
    assert.deepEqual(round1.map((s) => s.id), ['proposer_sft', 'proposer_dpo', 'reasoner_dpo']);
    assert.ok((seeds[0]?.size ?? 0) >= 30, 'the fixture holds every flag');
  });

  round1.forEach((stage, i) => {
    it(`${stage.id}: every flag with the same value`, () => {
      const seed = seeds[i] as Map<string, string>;
      for (const [flag, raw] of seed) {
        if (PATH_FLAGS.has(flag)) continue;
        assert.ok(flag in stage.args, `${stage.id} is missing --${flag}`);
        assert.deepEqual(stage.args[flag], normalize(raw), `--${flag}: seed ${raw}, config ${String(stage.args[flag])}`);
      }
      // the rendered YAML reads back to the same values under YAML 1.1 rules (PyYAML's), floats included
      const text = renderConfigYaml(stage.args, p.value.keySet);
      const back = parse(text, { version: '1.1' }) as Record<string, unknown>;
      for (const [flag, raw] of seed) if (!PATH_FLAGS.has(flag)) assert.deepEqual(back[flag], normalize(raw), `YAML round trip of --${flag}`);
    });
  });

  it('maps the path flags to the same meaning', () => {
    const [sft, pdpo, rdpo] = round1;
    assert.equal(sft?.args['model_name_or_path'], 'Qwen/Qwen3-32B');
    assert.equal(pdpo?.args['model_name_or_path'], sft?.args['output_dir'], 'proposer DPO starts from the SFT output');
    // the seed used the authors' local copy of the same base model
    assert.ok(seeds[2]?.get('model_name_or_path')?.endsWith('Qwen/Qwen3-32B'));
    assert.equal(rdpo?.args['model_name_or_path'], 'Qwen/Qwen3-32B');
    for (const s of round1) {
      const ds = JSON.parse(readFileSync(s.deepspeed?.source ?? '', 'utf8')) as { zero_optimization: Record<string, { device?: string } | number> };
      assert.equal(ds.zero_optimization['stage'], 3);
      assert.equal((ds.zero_optimization['offload_optimizer'] as { device: string }).device, 'cpu');
      assert.equal((ds.zero_optimization['offload_param'] as { device: string }).device, 'cpu');
    }
  });

  it('adds only the documented safety defaults beyond the seed', () => {
    const seedKeys = new Set([...(seeds[1] as Map<string, string>).keys()]);
    const extra = Object.keys(round1[1]?.args ?? {}).filter((k) => !seedKeys.has(k));
    assert.deepEqual(extra.sort(), ['overwrite_output_dir', 'save_total_limit']);
  });
});
