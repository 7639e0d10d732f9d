import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { containerView, hostView } from '../../src/backends/trainer-view.js';
import { loadPipeline } from '../../src/pipeline/load.js';
import type { Diagnostic } from '../../src/pipeline/diagnostics.js';
import type { CommandInstance, Plan, ServeInstance } from '../../src/pipeline/plan-types.js';
import { buildPlan, type PlanOptions } from '../../src/planner/plan.js';
import { fingerprintPlan } from '../../src/state/fingerprint.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('plan-serves');
after(() => rig.cleanup());
rig.write('pipelines/sft.jsonl', '{"instruction": "q", "output": "a"}\n');

const HEAD = `name: serves
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
backend: local
gpus: 8
models: {base: Qwen/Qwen3-0.6B}
datasets:
  sft: {path: sft.jsonl}
`;

/** A train stage every round, three servers (a base model, this round's output, the previous round's with a fallback) and one client of all three. */
const LOOP = `${HEAD}stages:
  - id: client
    kind: command
    endpoints: {a: srv_base, b: srv_same, c: srv_prev}
    command: [python3, run.py]
  - id: srv_prev
    kind: serve
    engine: llamafactory
    template: qwen3
    gpus: 1
    model: {stage: sft, round: previous, fallback: {base: base}}
  - id: srv_same
    kind: serve
    engine: sglang
    model: {stage: sft}
    served_name: tuned
    gpus: 2
    args: [--mem-fraction-static, "0.85"]
  - id: srv_base
    kind: serve
    engine: vllm
    model: {base: base}
    gpus: 1
  - id: sft
    kind: train
    stage: sft
    model: {base: base}
    datasets: [sft]
`;

let n = 0;
function plan(yaml: string, o: Partial<PlanOptions> = {}): { plan?: Plan; diags: Diagnostic[] } {
  const file = rig.write(`pipelines/p${n++}.yaml`, yaml);
  const p = loadPipeline(file);
  if (!p.ok) return { diags: p.error };
  const r = buildPlan(p.value, { rounds: 2, runDir: rig.runDir, backend: 'local', view: hostView, dataProblems: 'error', ...o });
  return r.ok ? { plan: r.value.plan, diags: r.value.warnings } : { diags: r.error };
}

function serve(p: Plan | undefined, key: string): ServeInstance {
  const s = p?.serves.find((x) => x.key === key);
  assert.ok(s, `no server ${key} in ${p?.serves.map((x) => x.key).join(', ')}`);
  return s;
}

function command(p: Plan | undefined, key: string): CommandInstance {
  const s = p?.stages.find((x) => x.key === key);
  assert.ok(s && s.kind === 'command', `no command stage ${key}`);
  return s;
}

/** The one error whose message matches, with its hint. */
function errorLike(diags: Diagnostic[], message: RegExp): Diagnostic {
  const hits = diags.filter((d) => d.severity === 'error' && message.test(d.message));
  assert.equal(hits.length, 1, `expected one error like ${message}, got:\n${diags.map((d) => `${d.severity} ${d.path}: ${d.message}`).join('\n')}`);
  return hits[0] as Diagnostic;
}

describe('planServeInstance: one server per round of a serve stage', () => {
  const { plan: p, diags } = plan(LOOP);

  it('plans every round of every serve stage, outside plan.stages, with no error', () => {
    assert.ok(p, diags.map((d) => d.message).join('\n'));
    assert.deepEqual(p.serves.map((s) => s.key).sort(), ['r1/srv_base', 'r1/srv_prev', 'r1/srv_same', 'r2/srv_base', 'r2/srv_prev', 'r2/srv_same']);
    assert.ok(p.stages.every((s) => (s.kind as string) !== 'serve'));
    assert.deepEqual(p.stages.map((s) => s.key), ['r1/sft', 'r1/client', 'r2/sft', 'r2/client']);
  });

  it('serves a base model, this round’s output and the previous round’s (the fallback in round 1)', () => {
    assert.deepEqual(serve(p, 'r1/srv_base').model, { kind: 'base', name: 'base', ref: 'Qwen/Qwen3-0.6B', local: false });
    assert.equal(serve(p, 'r1/srv_base').serverModel, 'Qwen/Qwen3-0.6B');
    assert.deepEqual(serve(p, 'r2/srv_same').model, { kind: 'stage', key: 'r2/sft', hostPath: join(rig.runDir, 'outputs/r2/sft') });
    assert.equal(serve(p, 'r2/srv_same').serverModel, join(rig.runDir, 'outputs/r2/sft'));
    assert.equal(serve(p, 'r1/srv_prev').model.kind, 'base');
    assert.deepEqual(serve(p, 'r2/srv_prev').model, { kind: 'stage', key: 'r1/sft', hostPath: join(rig.runDir, 'outputs/r1/sft') });
  });

  it('depends on the producer of its model, and nothing else', () => {
    assert.deepEqual(serve(p, 'r1/srv_base').dependsOn, []);
    assert.deepEqual(serve(p, 'r1/srv_same').dependsOn, ['r1/sft']);
    assert.deepEqual(serve(p, 'r1/srv_prev').dependsOn, []);
    assert.deepEqual(serve(p, 'r2/srv_prev').dependsOn, ['r1/sft']);
  });

  it('names the served model after the stage id unless served_name says otherwise', () => {
    assert.equal(serve(p, 'r1/srv_base').servedName, 'srv_base');
    assert.equal(serve(p, 'r1/srv_same').servedName, 'tuned');
    assert.ok(serve(p, 'r1/srv_same').command.includes('tuned'));
    assert.equal(serve(p, 'r1/srv_prev').env['API_MODEL_NAME'], 'srv_prev');
  });

  it('launches with port 0 (chosen at start), the GPUs as tensor parallel size and the extra args', () => {
    const s = serve(p, 'r1/srv_same');
    assert.equal(s.engine, 'sglang');
    assert.equal(s.command[s.command.indexOf('--port') + 1], '0');
    assert.equal(s.command[s.command.indexOf('--tp-size') + 1], '2');
    assert.deepEqual(s.extraArgs, ['--mem-fraction-static', '0.85']);
    assert.ok(s.command.join(' ').includes('--mem-fraction-static 0.85'));
    assert.equal(s.bindHost, '127.0.0.1');
    assert.equal(s.readyTimeoutMs, 1_800_000);
    const lf = serve(p, 'r1/srv_prev');
    assert.deepEqual(lf.command, ['llamafactory-cli', 'api', join(rig.runDir, 'configs/r1-srv_prev.serve.yaml')]);
    assert.equal(lf.env['API_PORT'], '0');
    assert.equal(lf.template, 'qwen3');
  });

  it('fills each server’s consumers, and each consumer’s endpoints and FLUX_MODEL_<NAME>', () => {
    for (const r of [1, 2]) for (const id of ['srv_base', 'srv_same', 'srv_prev']) assert.deepEqual(serve(p, `r${r}/${id}`).consumers, [`r${r}/client`]);
    const c = command(p, 'r2/client');
    assert.deepEqual(c.endpoints, [
      { name: 'a', serve: 'r2/srv_base' },
      { name: 'b', serve: 'r2/srv_same' },
      { name: 'c', serve: 'r2/srv_prev' },
    ]);
    assert.equal(c.env['FLUX_MODEL_A'], 'srv_base');
    assert.equal(c.env['FLUX_MODEL_B'], 'tuned');
    assert.equal(c.env['FLUX_MODEL_C'], 'srv_prev');
    // the URL exists only once the server runs: the executor sets it
    assert.equal(c.env['FLUX_ENDPOINT_A'], undefined);
  });

  it('puts the producer of a served model before the consumer (declared after it in the file), which asks no GPU of its own', () => {
    assert.ok(command(p, 'r1/client').dependsOn.includes('r1/sft'));
    assert.ok(command(p, 'r2/client').dependsOn.includes('r2/sft'));
    assert.ok(command(p, 'r2/client').dependsOn.includes('r1/sft'));
    assert.ok((p?.stages.findIndex((s) => s.key === 'r1/sft') ?? -1) < (p?.stages.findIndex((s) => s.key === 'r1/client') ?? -1));
    assert.equal(command(p, 'r1/client').gpus, 'none');
  });

  it('binds every interface on slurm, where consumers reach the server’s node over the network', () => {
    const s = plan(LOOP, { backend: 'slurm' }).plan;
    assert.equal(serve(s, 'r1/srv_same').bindHost, '0.0.0.0');
    assert.equal(serve(s, 'r1/srv_same').command[serve(s, 'r1/srv_same').command.indexOf('--host') + 1], '0.0.0.0');
  });

  it('sees the model and its own config inside the container with the docker backend', () => {
    const d = plan(LOOP, { backend: 'docker', view: containerView() }).plan;
    assert.equal(serve(d, 'r2/srv_same').serverModel, '/flux/run/outputs/r2/sft');
    assert.equal(serve(d, 'r1/srv_prev').serverConfigPath, '/flux/run/configs/r1-srv_prev.serve.yaml');
    assert.equal(serve(d, 'r1/srv_prev').configPath, join(rig.runDir, 'configs/r1-srv_prev.serve.yaml'));
  });
});

describe('serve stage errors, each with its fix', () => {
  const replace = (from: string, to: string) => {
    assert.ok(LOOP.includes(from), from);
    return LOOP.replace(from, to);
  };

  it('the llamafactory engine without a template', () => {
    const d = errorLike(plan(replace('    template: qwen3\n', '')).diags, /llamafactory engine, which needs the model's chat template/);
    assert.match(d.hint, /template: qwen3/);
    assert.match(d.path, /stages\[1\]\.engine/);
  });

  it('the docker backend with a network other than host', () => {
    const diags = plan(`${LOOP}docker: {network: bridge}\n`, { backend: 'docker', view: containerView() }).diags;
    for (const id of ['srv_base', 'srv_same', 'srv_prev']) {
      const d = errorLike(diags, new RegExp(`serve stage "${id}" needs docker\\.network: host \\(it is "bridge"\\)`));
      assert.match(d.hint, /network: host/);
      assert.equal(d.path, 'docker.network');
    }
    assert.ok(plan(`${LOOP}docker: {network: host}\n`, { backend: 'docker', view: containerView() }).plan);
  });

  it('an engine that does not exist, and a field a serve stage does not have', () => {
    const bad = plan(replace('    engine: vllm\n', '    engine: tgi\n')).diags;
    assert.ok(bad.some((d) => d.severity === 'error' && /engine/.test(d.path) && /sglang/.test(`${d.message} ${d.hint}`) && /vllm/.test(`${d.message} ${d.hint}`)), bad.map((d) => `${d.path}: ${d.message} | ${d.hint}`).join('\n'));
    const unknown = plan(replace('    served_name: tuned\n', '    served_nmae: tuned\n')).diags;
    const d = unknown.find((x) => x.severity === 'error' && /served_nmae/.test(`${x.path} ${x.message}`));
    assert.ok(d, unknown.map((x) => `${x.path}: ${x.message} | ${x.hint}`).join('\n'));
    assert.match(`${d.message} ${d.hint}`, /served_name/);
    // a train-stage key on a serve stage is unknown there too: the allowed keys are the serve stage's
    const trainKey = plan(replace('    served_name: tuned\n', '    datasets: [sft]\n')).diags;
    assert.ok(trainKey.some((x) => x.severity === 'error' && /datasets/.test(`${x.path} ${x.message}`) && /ready_timeout_seconds/.test(`${x.message} ${x.hint}`)), trainKey.map((x) => `${x.path}: ${x.message} | ${x.hint}`).join('\n'));
  });

  it('a served_name with a space or a ready timeout of zero', () => {
    assert.ok(plan(replace('served_name: tuned', 'served_name: "my model"')).diags.some((d) => d.severity === 'error' && /served_name/.test(d.path)));
    assert.ok(plan(replace('    engine: vllm\n', '    engine: vllm\n    ready_timeout_seconds: 0\n')).diags.some((d) => d.severity === 'error' && /ready_timeout_seconds/.test(d.path)));
  });

  it('a serve stage whose model is a command stage’s output', () => {
    const d = errorLike(plan(replace('model: {stage: sft}', 'model: {stage: client, round: previous, fallback: {base: base}}')).diags, /"client" is a command stage; its output is not a model/);
    assert.match(d.hint, /train stage/);
  });

  it('a serve stage no one consumes is a warning: it never starts', () => {
    const r = plan(replace('endpoints: {a: srv_base, b: srv_same, c: srv_prev}', 'endpoints: {a: srv_base, b: srv_same}'));
    assert.ok(r.plan, r.diags.map((d) => d.message).join('\n'));
    const w = r.diags.filter((d) => d.severity === 'warning' && /srv_prev/.test(d.message));
    assert.equal(w.length, 2, r.diags.map((d) => d.message).join('\n'));
    assert.match(w[0]?.message ?? '', /server r1\/srv_prev is named by no command stage's `endpoints` in round 1, so it never starts/);
    assert.match(w[0]?.hint ?? '', /endpoints: \{proposer: srv_prev\}/);
    assert.deepEqual(serve(r.plan, 'r1/srv_prev').consumers, []);
  });

  it('servers a consumer needs at once must fit the GPU pool together', () => {
    const d = errorLike(plan(LOOP, { gpus: 3 }).diags, /needs srv_base \(1\), srv_same \(2\), srv_prev \(1\) at once, which does not fit the GPU pool \(3\)/);
    assert.match(d.hint, /fewer GPUs/);
    assert.ok(plan(LOOP, { gpus: 4 }).plan);
  });

  it('a server asking for GPU ids the pool does not have is refused by the plan, not when it would start', () => {
    const d = errorLike(
      plan(`${HEAD}stages:
  - {id: srv, kind: serve, engine: vllm, model: {base: base}, gpus: "4,5"}
  - {id: use, kind: command, endpoints: {llm: srv}, command: ["true"]}
`, { gpus: '0,1,2,3' }).diags,
      /stage "use" asks for GPU 4, 5, which the pool \(0,1,2,3\) does not have/,
    );
    assert.match(d.hint, /GPU ids from the pool/);
  });

  it('--port, --host, --served-model-name and --model-path in args are refused: flux-train sets them', () => {
    const d = errorLike(
      plan(`${HEAD}stages:
  - {id: srv, kind: serve, engine: sglang, model: {base: base}, args: [--port=9000, --host, 0.0.0.0, --mem-fraction-static, "0.8"]}
  - {id: use, kind: command, endpoints: {llm: srv}, command: ["true"]}
`).diags,
      /serve stage "srv" sets --port=9000, --host in args, which flux-train sets itself/,
    );
    assert.match(d.hint, /served_name/);
  });
});

describe('a consumer and what its server waits for', () => {
  it('a consumer waits for everything its server waits for (`after:` of the serve stage too), not only the served model', () => {
    const { plan: p, diags } = plan(`${HEAD}stages:
  - {id: prep, kind: command, command: ["true"]}
  - {id: srv, kind: serve, engine: vllm, model: {base: base}, gpus: 1, after: [prep]}
  - {id: use, kind: command, endpoints: {llm: srv}, command: ["true"]}
`);
    assert.ok(p, diags.map((d) => d.message).join('\n'));
    assert.deepEqual(serve(p, 'r1/srv').dependsOn, ['r1/prep']);
    assert.deepEqual(command(p, 'r1/use').dependsOn, ['r1/prep'], 'else the server starts before prep is finished');
  });
});
