import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { containerView, hostView } from '../../src/backends/trainer-view.js';
import { loadPipeline } from '../../src/pipeline/load.js';
import type { Diagnostic } from '../../src/pipeline/diagnostics.js';
import type { CommandInstance, Plan } from '../../src/pipeline/plan-types.js';
import { buildPlan, type PlanOptions } from '../../src/planner/plan.js';
import { fingerprintPlan } from '../../src/state/fingerprint.js';
import { projectRoot } from '../../src/util/project-root.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('plan-endpoints');
after(() => rig.cleanup());
rig.write('pipelines/sft.jsonl', '{"instruction": "q", "output": "a"}\n');
rig.write('data/problems.jsonl', '{"problem": "1+1", "answer": "2"}\n');

/** Two servers of this round's models and a miner of both, like the loop in pipelines/reasonflux-v2.yaml. */
const LOOP = `name: endpoints
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
backend: local
gpus: none
models: {base: Qwen/Qwen3-0.6B}
datasets:
  sft: {path: sft.jsonl}
stages:
  - id: proposer
    kind: train
    stage: sft
    model: {base: base}
    datasets: [sft]
  - id: proposer_server
    kind: serve
    engine: sglang
    model: {stage: proposer}
    served_name: the-proposer
  - id: reasoner_server
    kind: serve
    engine: vllm
    model: {base: base}
    rounds: [1]
  - id: mine
    kind: command
    rounds: [1]
    endpoints: {proposer: proposer_server, reasoner: reasoner_server}
    inputs: {base_model: {base: base}}
    command: [python3, "{tools}/mine_pairs.py", --problems, "{pipeline_dir}/../data/problems.jsonl", "--out={tools}/fixtures"]
    outputs: [pairs.jsonl]
`;

let n = 0;
function plan(yaml: string, o: Partial<PlanOptions> = {}): { plan?: Plan; diags: Diagnostic[] } {
  const file = rig.write(`pipelines/p${n++}.yaml`, yaml);
  const p = loadPipeline(file);
  if (!p.ok) return { diags: p.error };
  const r = buildPlan(p.value, { rounds: 2, runDir: rig.runDir, backend: 'local', view: hostView, dataProblems: 'error', ...o });
  return r.ok ? { plan: r.value.plan, diags: r.value.warnings } : { diags: r.error };
}

const edit = (from: string, to: string, yaml = LOOP): string => {
  assert.ok(yaml.includes(from), from);
  return yaml.replace(from, to);
};

function mine(p: Plan | undefined, round = 1): CommandInstance {
  const s = p?.stages.find((x) => x.key === `r${round}/mine`);
  assert.ok(s && s.kind === 'command');
  return s;
}

function errorLike(diags: Diagnostic[], message: RegExp): Diagnostic {
  const hits = diags.filter((d) => d.severity === 'error' && message.test(d.message));
  assert.equal(hits.length, 1, `expected one error like ${message}, got:\n${diags.map((d) => `${d.severity} ${d.path}: ${d.message}`).join('\n')}`);
  return hits[0] as Diagnostic;
}

describe('resolveEndpoints: a command stage names serve stages of its round', () => {
  it('hands each endpoint’s served name to the consumer as FLUX_MODEL_<NAME>', () => {
    const { plan: p, diags } = plan(LOOP);
    assert.ok(p, diags.map((d) => d.message).join('\n'));
    assert.deepEqual(mine(p).endpoints, [
      { name: 'proposer', serve: 'r1/proposer_server' },
      { name: 'reasoner', serve: 'r1/reasoner_server' },
    ]);
    assert.equal(mine(p).env['FLUX_MODEL_PROPOSER'], 'the-proposer');
    assert.equal(mine(p).env['FLUX_MODEL_REASONER'], 'reasoner_server');
    // an input still gets the model's path
    assert.equal(mine(p).env['FLUX_MODEL_BASE_MODEL'], 'Qwen/Qwen3-0.6B');
    assert.ok(mine(p).dependsOn.includes('r1/proposer'));
  });

  it('an unknown stage, with the serve stage it probably means', () => {
    const d = errorLike(plan(edit('proposer: proposer_server,', 'proposer: proposer_sever,')).diags, /endpoint "proposer" of stage "mine" names unknown stage "proposer_sever"/);
    assert.equal(d.hint, 'did you mean "proposer_server"?');
    assert.equal(d.path, 'stages[3].endpoints.proposer');
    const far = errorLike(plan(edit('proposer: proposer_server,', 'proposer: zzz,')).diags, /names unknown stage "zzz"/);
    assert.match(far.hint, /name a serve stage: proposer_server, reasoner_server/);
  });

  it('a train stage or a command stage is no server', () => {
    const train = errorLike(plan(edit('proposer: proposer_server,', 'proposer: proposer,')).diags, /endpoint "proposer" names "proposer", a train stage, not a server/);
    assert.match(train.hint, /kind: serve/);
    const cmd = `${LOOP}  - id: other\n    kind: command\n    rounds: [1]\n    endpoints: {m: mine}\n    command: ["true"]\n`;
    errorLike(plan(cmd).diags, /endpoint "m" names "mine", a command stage, not a server/);
  });

  it('a server that does not run in the consumer’s round', () => {
    const d = errorLike(plan(edit('    rounds: [1]\n    endpoints:', '    rounds: [2]\n    endpoints:')).diags, /stage "mine" in round 2 uses server "reasoner_server", which does not run in round 2/);
    assert.match(d.hint, /make "reasoner_server" run in round 2 \(its `rounds:`\), or leave "mine" out of that round/);
  });

  it('an endpoint name that is also an input name, in any case', () => {
    const d = errorLike(plan(edit('inputs: {base_model: {base: base}}', 'inputs: {Proposer: {base: base}}')).diags, /"proposer" is both an input and an endpoint of stage "mine": both would set FLUX_MODEL_PROPOSER/);
    assert.equal(d.hint, 'rename one of them');
  });

  it('two endpoint names that differ only in case', () => {
    const d = errorLike(plan(edit('reasoner: reasoner_server}', 'reasoner: reasoner_server, PROPOSER: reasoner_server}')).diags, /endpoints "proposer" and "PROPOSER" both set FLUX_ENDPOINT_PROPOSER/);
    assert.equal(d.hint, 'rename one of them');
  });

  it('two names for one server are fine: both variables name it', () => {
    const { plan: p, diags } = plan(edit('reasoner: reasoner_server}', 'reasoner: reasoner_server, again: reasoner_server}'));
    assert.ok(p, diags.map((d) => d.message).join('\n'));
    assert.deepEqual(p.serves.find((s) => s.key === 'r1/reasoner_server')?.consumers, ['r1/mine'], 'once, though named twice');
    assert.equal(mine(p).env['FLUX_MODEL_AGAIN'], 'reasoner_server');
  });
});

describe('expandPlaceholders: {tools} and {pipeline_dir} as the job sees them', () => {
  it('are host paths on the local backend, with no mount', () => {
    const { plan: p } = plan(LOOP);
    assert.deepEqual(mine(p).command, ['python3', join(projectRoot, 'tools', 'mine_pairs.py'), '--problems', rig.path('data', 'problems.jsonl'), `--out=${join(projectRoot, 'tools', 'fixtures')}`]);
    assert.deepEqual(p?.mounts, []);
  });

  it('are read-only mounts with the docker backend', () => {
    const { plan: p, diags } = plan(LOOP, { backend: 'docker', view: containerView() });
    assert.ok(p, diags.map((d) => d.message).join('\n'));
    const cmd = mine(p).command;
    const mountOf = (host: string) => p.mounts.find((m) => m.host === host);
    // tools/ goes in whole (the programs import flux_tools beside them); a data file with its folder
    const tools = mountOf(join(projectRoot, 'tools'));
    const data = mountOf(rig.path('data'));
    assert.ok(tools && data, JSON.stringify(p.mounts));
    assert.equal(tools.mode, 'ro');
    assert.equal(data.mode, 'ro');
    assert.equal(p.mounts.filter((m) => m.container.startsWith('/flux/tools/')).length, 1, 'one mount for every {tools} path');
    assert.match(tools.container, /^\/flux\/tools\/[0-9a-f]{8}\/tools$/);
    assert.match(data.container, /^\/flux\/pipeline\/[0-9a-f]{8}\/data$/);
    assert.deepEqual(cmd.slice(0, 4), ['python3', `${tools.container}/mine_pairs.py`, '--problems', `${data.container}/problems.jsonl`]);
    // a placeholder inside an argument is expanded in place
    assert.equal(cmd[4], `--out=${tools.container}/fixtures`);
  });

  it('a path after a placeholder that does not exist is an error with a fix (a warning in a dry run)', () => {
    const missing = edit('../data/problems.jsonl', '../data/nope.jsonl');
    const d = plan(missing).diags.find((x) => x.code === 'missing-file' && /nope\.jsonl/.test(x.message));
    assert.ok(d);
    assert.equal(d.severity, 'error');
    assert.match(d.hint, /scripts\/fetch-datasets\.sh|fix the path/);
    const dry = plan(missing, { dataProblems: 'warning' });
    assert.ok(dry.plan);
    assert.ok(dry.diags.some((x) => x.severity === 'warning' && /nope\.jsonl/.test(x.message)));
  });
});

describe('a consumer’s fingerprint covers its servers', () => {
  const fp = (yaml: string, key = 'r1/mine') => {
    const r = plan(yaml);
    assert.ok(r.plan, r.diags.map((d) => d.message).join('\n'));
    const f = fingerprintPlan(r.plan).get(key);
    assert.ok(f);
    return f;
  };
  const base = fp(LOOP);

  it('stays the same when nothing changed (the port is never part of it)', () => {
    assert.equal(fp(LOOP).hash, base.hash);
    assert.ok(base.fields['endpoint.proposer']);
    assert.ok(!Object.keys(base.fields).some((k) => /port/i.test(k)));
  });

  for (const [what, from, to] of [
    ['engine', '    engine: vllm\n', '    engine: sglang\n'],
    ['args', '    served_name: the-proposer\n', '    served_name: the-proposer\n    args: [--mem-fraction-static, "0.8"]\n'],
    ['served_name', 'served_name: the-proposer', 'served_name: proposer'],
    ['model', '    engine: vllm\n    model: {base: base}', '    engine: vllm\n    model: {stage: proposer}'],
    ['env', '    served_name: the-proposer\n', '    served_name: the-proposer\n    env: {SGLANG_FLAG: "1"}\n'],
  ] as const) {
    it(`changes when a server’s ${what} changes`, () => {
      const changed = fp(edit(from, to));
      assert.notEqual(changed.hash, base.hash, what);
      assert.ok(Object.keys(changed.fields).some((k) => k.startsWith('endpoint.') && changed.fields[k] !== base.fields[k]), what);
    });
  }

  it('does not change for a server it does not use, nor for ready_timeout_seconds', () => {
    const other = `${LOOP}  - id: spare\n    kind: serve\n    engine: vllm\n    model: {base: base}\n    rounds: [1]\n  - id: other\n    kind: command\n    rounds: [1]\n    endpoints: {s: spare}\n    command: ["true"]\n`;
    const a = fp(other);
    assert.equal(fp(edit('    engine: vllm\n    model: {base: base}\n    rounds: [1]\n  - id: other', '    engine: sglang\n    model: {base: base}\n    rounds: [1]\n  - id: other', other)).hash, a.hash);
    assert.notEqual(fp(edit('    engine: vllm\n    model: {base: base}\n    rounds: [1]\n  - id: other', '    engine: sglang\n    model: {base: base}\n    rounds: [1]\n  - id: other', other), 'r1/other').hash, fp(other, 'r1/other').hash);
    assert.equal(fp(edit('    served_name: the-proposer\n', '    served_name: the-proposer\n    ready_timeout_seconds: 60\n')).hash, base.hash);
  });
});
