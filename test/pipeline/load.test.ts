import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadPipeline } from '../../src/pipeline/load.js';
import { hostView } from '../../src/backends/trainer-view.js';
import { buildPlan } from '../../src/planner/plan.js';
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

/** Load, then plan 3 rounds (names are resolved in the plan); the diagnostics of whichever step refused. */
function loadAndPlan(text: string): Diagnostic[] {
  const file = rig.write(`p${Math.random().toString(36).slice(2)}.yaml`, text);
  const r = loadPipeline(file);
  if (!r.ok) return r.error;
  const p = buildPlan(r.value, { rounds: 3, runDir: rig.runDir, backend: 'local', view: hostView, dataProblems: 'warning' });
  return p.ok ? [] : p.error;
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

/** Issue 10, input half: each case found by fuzzing or by hand, now exit 2 with a location and a fix. */
describe('hardening: bad input is a diagnostic, never a crash', () => {
  const withDefaults = (extra: string) => BASE.replace('  template: qwen3\n', `  template: qwen3\n${extra}`);

  it('bounds YAML alias expansion (alias bomb) with a located diagnostic', () => {
    const bomb = 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n';
    const d = only(load(bomb), 'yaml-alias');
    assert.equal(d.line, 2);
    assert.match(d.message, /aliases expand too far/);
    assert.match(d.hint, /fewer `\*alias`/);
  });

  it('refuses an unresolved alias where it is written', () => {
    const d = only(load('name: *nope\n'), 'yaml-alias');
    assert.deepEqual([d.line, d.column], [1, 7]);
    assert.match(d.message, /\*nope refers to no anchor/);
  });

  it('still accepts a few ordinary aliases', () => {
    assert.deepEqual(load(BASE.replace('template: qwen3', 'template: &t qwen3\n  run_name: *t')), []);
  });

  it('refuses a folder as the pipeline (EISDIR)', () => {
    const r = loadPipeline(rig.path('.'));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error[0]?.code, 'not-a-file');
      assert.match(r.error[0]?.message ?? '', /is a folder, not a file/);
    }
  });

  for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
    it(`does not find base model "${name}" through Object.prototype`, () => {
      const ds = loadAndPlan(BASE.replace('model: {base: base}', `model: {base: ${name}}`));
      assert.ok(ds.length > 0, 'must be refused');
      const d = ds[0] as Diagnostic;
      assert.equal(d.path, 'stages[0].model.base');
      assert.match(d.message, name === 'constructor' ? /reserved/ : new RegExp(`unknown base model "${name}"`));
    });
  }

  it('refuses __proto__ and constructor as keys instead of dropping them with their content', () => {
    const proto = only(load(withDefaults('  __proto__: {learning_rate: 1}\n')), 'reserved-name');
    assert.equal(proto.line, 8);
    assert.match(proto.message, /"__proto__" cannot be a key/);
    const ctor = only(load(BASE.replace('models: {base: ./model}', 'models: {base: ./model, constructor: x}')), 'reserved-name');
    assert.match(ctor.message, /"constructor"/);
  });

  it('gives an argument named like an Object.prototype member a real fix text', () => {
    for (const k of ['toString', 'valueOf', 'hasOwnProperty']) {
      const d = only(load(withDefaults(`  ${k}: 1\n`)), 'unknown-key');
      assert.doesNotMatch(d.hint, /function|native code/);
      assert.doesNotMatch(d.message, /is set by flux-train/);
    }
  });

  it('refuses NaN, infinities, negative and absurd numeric LLaMA-Factory arguments', () => {
    const cases: [string, RegExp][] = [
      ['learning_rate: .nan', /finite/],
      ['learning_rate: .inf', /finite/],
      ['learning_rate: -1.0e-5', /out of range/],
      ['learning_rate: 50.0', /out of range/],
      ['per_device_train_batch_size: 0', /out of range/],
      ['per_device_train_batch_size: 100000000', /out of range/],
      ['num_train_epochs: -.inf', /finite/],
      ['num_train_epochs: 1.0e+12', /out of range/],
      ['cutoff_len: -5', /out of range/],
      ['gradient_accumulation_steps: 0', /out of range/],
    ];
    for (const [line, want] of cases) {
      const ds = load(BASE.replace('learning_rate: 1.0e-5', line));
      const d = ds.find((x) => x.code === 'arg-range' || x.code === 'arg-type');
      assert.ok(d, `${line}: expected a range diagnostic, got ${JSON.stringify(ds)}`);
      if (d.code === 'arg-range') assert.match(d.message, want, line);
      assert.equal(d.line, 15, line);
      assert.doesNotMatch(d.value ?? '', /^null$/, 'the value as written, not JSON null');
    }
    // the -1 of max_steps means "use epochs" and stays allowed
    assert.deepEqual(load(BASE.replace('learning_rate: 1.0e-5', 'learning_rate: 1.0e-5\n      max_steps: -1')), []);
  });

  it('refuses a per-stage image of latest or empty, like the pipeline image', () => {
    for (const img of ['"foo/bar:latest"', "''", 'nodigest']) {
      const d = only(load(BASE.replace('    kind: train\n', `    kind: train\n    image: ${img}\n`)), 'schema');
      assert.equal(d.path, 'stages[0].image');
      assert.match(d.hint, /pin a version tag/);
    }
    assert.deepEqual(load(BASE.replace('    kind: train\n', '    kind: train\n    image: my/sampler:1.2\n')), []);
  });

  it('refuses a stage that can run in no round (an empty range or a round beyond any --n)', () => {
    const empty = only(load(BASE.replace('    kind: train\n', '    kind: train\n    rounds: {from: 3, to: 1}\n')), 'schema');
    assert.match(empty.message, /runs in no round/);
    const far = only(load(BASE.replace('    kind: train\n', '    kind: train\n    rounds: [1000000000]\n')), 'schema');
    assert.match(far.message, /at most 10000/);
    assert.match(far.hint, /from <= to/);
  });

  it('refuses a secret-looking key in a stage env with the fix "use pass_env"', () => {
    for (const k of ['HF_TOKEN', 'WANDB_API_KEY', 'MY_SECRET', 'DB_PASSWORD', 'openai_api_key']) {
      const d = only(load(BASE.replace('    kind: train\n', `    kind: train\n    env: {${k}: abc, OMP_NUM_THREADS: "4"}\n`)), 'secret-env');
      assert.equal(d.path, `stages[0].env.${k}`);
      assert.match(d.hint, /use pass_env/);
      assert.equal(d.value, undefined, 'the secret value is not echoed');
    }
    assert.deepEqual(load(BASE.replace('    kind: train\n', '    kind: train\n    env: {OMP_NUM_THREADS: "4"}\n')), []);
  });

  it('refuses a deepspeed setting that is neither a name nor a path, and a stage that sets it twice', () => {
    const d = only(load(withDefaults('  deepspeed: {zero_optimization: {stage: 3}}\n')), 'arg-type');
    assert.match(d.message, /preset name or a path/);
    const twice = only(load(BASE.replace('    kind: train\n', '    kind: train\n    deepspeed: z2\n').replace('learning_rate: 1.0e-5', 'learning_rate: 1.0e-5\n      deepspeed: z3')), 'duplicate-setting');
    assert.equal(twice.path, 'stages[0].deepspeed');
  });
});

describe('hardening: command stage outputs stay inside the output dir', () => {
  const CMD = `${BASE}  - id: gen
    kind: command
    command: [sh, -c, 'true']
    outputs: [OUT]
`;
  for (const [out, want] of [
    ['../../../../tmp/x/data.jsonl', /leaves the stage output dir/],
    ['/tmp/x/data.jsonl', /absolute path/],
    ['sub/../../x.jsonl', /leaves/],
    ['.', /names the output dir itself/],
  ] as const) {
    it(`refuses outputs: [${out}]`, () => {
      const d = only(load(CMD.replace('OUT', JSON.stringify(out))), 'output-path');
      assert.equal(d.path, 'stages[1].outputs[0]');
      assert.match(d.message, want);
    });
  }
  it('accepts relative outputs, in sub folders too', () => {
    assert.deepEqual(load(CMD.replace('OUT', 'pairs.jsonl, data/more.jsonl')), []);
  });
});

describe('key set of the pinned LLaMA-Factory version', () => {
  it('names the pinned version in the did-you-mean message', () => {
    const d = only(load(BASE.replace('learning_rate: 1.0e-5', 'learning_rat: 1.0e-5')), 'unknown-key');
    assert.match(d.message, /LLaMA-Factory 0\.9\.5 stops/);
    const dev = only(load(BASE.replace('version: 0.9.5', 'version: 0.9.6.dev0').replace('learning_rate: 1.0e-5', 'learning_rat: 1.0e-5')), 'unknown-key');
    assert.match(dev.message, /LLaMA-Factory 0\.9\.6\.dev0 stops/);
  });

  it('checks keys against that version: a key only the newer set knows is unknown on 0.9.5', () => {
    // use_megatron_bridge exists in the 0.9.6.dev0 set only
    assert.ok(load(BASE.replace('learning_rate: 1.0e-5', 'use_megatron_bridge: false')).some((d) => d.code === 'unknown-key'));
    assert.deepEqual(load(BASE.replace('version: 0.9.5', 'version: 0.9.6.dev0').replace('learning_rate: 1.0e-5', 'use_megatron_bridge: false')), []);
  });

  it('refuses a version without a key set, and never reads a path from it', () => {
    for (const v of ['0.8.0', '../../etc/passwd', '"0.9.5/../0.9.5"']) {
      const d = only(load(BASE.replace('version: 0.9.5', `version: ${v}`)), 'llamafactory-version');
      assert.equal(d.path, 'llamafactory.version');
      assert.match(d.message, /has no LLaMA-Factory key set/);
      assert.match(d.hint, /0\.9\.5/);
      assert.match(d.hint, /update-llamafactory-keys\.py/);
    }
  });
});

describe('hardening: pass_env names', () => {
  it('refuses a pass_env name that process.env would find on Object.prototype', () => {
    const d = only(load(`${BASE}docker: {pass_env: [HF_TOKEN, toString]}\n`), 'schema');
    assert.equal(d.path, 'docker.pass_env[1]');
    assert.match(d.message, /reserved/);
  });
});

describe('hardening: NUL characters', () => {
  it('refuses a NUL in any value (a model id, a path) where it is written', () => {
    const d = only(load(BASE.replace('models: {base: ./model}', 'models: {base: "./mo\\0del"}')), 'nul-character');
    assert.deepEqual([d.line, d.column], [3, 16]);
    assert.match(d.hint, /remove the \\0/);
  });
});
