import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadPipeline } from '../../src/pipeline/load.js';
import { formatDiagnostic, type Diagnostic } from '../../src/pipeline/diagnostics.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('load');
after(() => rig.cleanup());

const BASE = `name: t
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
models: {base: ./model}
datasets:
  sft: {path: sft.jsonl}
defaults:
  template: qwen3
stages:
  - id: a
    kind: train
    stage: sft
    model: {base: base}
    datasets: [sft]
    args:
      learning_rate: 1.0e-5
`;

function load(text: string): Diagnostic[] {
  const file = rig.write(`p${Math.random().toString(36).slice(2)}.yaml`, text);
  const r = loadPipeline(file);
  return r.ok ? [] : r.error;
}

function only(ds: Diagnostic[], code: string): Diagnostic {
  const d = ds.find((x) => x.code === code);
  assert.ok(d, `expected a ${code} diagnostic, got ${JSON.stringify(ds)}`);
  return d;
}

describe('pipeline loading', () => {
  it('accepts a valid pipeline', () => {
    assert.deepEqual(load(BASE), []);
  });

  it('names the file, line, column and a did-you-mean for a misspelled LLaMA-Factory key', () => {
    const ds = load(BASE.replace('learning_rate: 1.0e-5', 'learning_rat: 1.0e-5'));
    const d = only(ds, 'unknown-key');
    assert.match(d.file, /\.yaml$/);
    assert.equal(d.line, 15);
    assert.equal(d.column, 7);
    assert.match(d.message, /"learning_rat" is not a LLaMA-Factory argument/);
    assert.match(d.hint, /did you mean "learning_rate"\?/);
    assert.match(formatDiagnostic(d), /p[a-z0-9]+\.yaml:15:7: error: stages\[0\]\.args\.learning_rat/);
  });

  it('reports every problem at once', () => {
    const ds = load(BASE.replace('template: qwen3', 'templat: qwen3\n  bf16: "True"\n  output_dir: x'));
    assert.ok(ds.some((d) => d.code === 'unknown-key' && /template/.test(d.hint)));
    assert.ok(ds.some((d) => d.code === 'arg-type' && d.path === 'defaults.bf16' && /write true without quotes/.test(d.hint)));
    assert.ok(ds.some((d) => d.code === 'managed-key' && d.path === 'defaults.output_dir'));
    assert.equal(ds.length, 3);
  });

  it('checks value types against the key set', () => {
    const d = only(load(BASE.replace('learning_rate: 1.0e-5', 'learning_rate: fast')), 'arg-type');
    assert.match(d.message, /expected float, got the string "fast"/);
    const c = only(load(BASE.replace('learning_rate: 1.0e-5', 'pref_loss: sigmoidd')), 'arg-type');
    assert.match(c.hint, /sigmoid/);
  });

  it('turns unknown keys into warnings with allow_extra_args (the ALLOW_EXTRA_ARGS escape hatch)', () => {
    const text = BASE.replace('learning_rate: 1.0e-5', 'my_custom_flag: 1') + 'allow_extra_args: true\n';
    assert.deepEqual(load(text), []);
  });

  it('reports schema errors with their location and a hint', () => {
    const d = only(load(BASE.replace('stage: sft', 'stage: sfft')), 'schema');
    assert.equal(d.path, 'stages[0].stage');
    assert.match(d.hint, /"sft"/);
    const u = only(load(BASE.replace('name: t', 'name: t\nroundz: 3')), 'schema');
    assert.match(u.message, /unknown field "roundz"/);
    assert.match(u.hint, /did you mean "rounds"|allowed here/);
    const m = only(load(BASE.replace('    model: {base: base}\n', '')), 'schema');
    assert.match(m.message, /model/);
  });

  it('refuses a floating image tag', () => {
    const d = only(load(BASE.replace('hiyouga/llamafactory:0.9.5', 'hiyouga/llamafactory:latest')), 'schema');
    assert.match(d.message, /latest/);
  });

  it('reports YAML syntax errors with a position', () => {
    const d = only(load('name: t\nmodels: [a\n'), 'yaml-syntax');
    assert.ok(d.line >= 2);
  });

  it('explains a missing pipeline file', () => {
    const r = loadPipeline(rig.path('nope.yaml'));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error[0]?.hint ?? '', /--pipeline/);
  });
});
