import assert from 'node:assert/strict';
import { join } from 'node:path';
import { containerView } from '../../src/backends/trainer-view.js';
import { loadPipeline, type Pipeline } from '../../src/pipeline/load.js';
import type { Plan } from '../../src/pipeline/plan-types.js';
import { buildPlan } from '../../src/planner/plan.js';
import type { Rig } from './rig.js';

/** gen -> use: two command stages (no trainer, no image pulled), for tests of what runs them. */
export const COMMAND_PIPELINE = `name: cmds
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
models: {base: Qwen/Qwen3-0.6B}
datasets:
  sft: {path: sft.jsonl}
stages:
  - id: gen
    kind: command
    command: [sh, -c, 'true']
    outputs: [pairs.jsonl]
    env: {GREETING: abc}
  - id: use
    kind: command
    after: [gen]
    command: [sh, -c, 'true']
    outputs: [done.txt]
`;

let n = 0;

/** Loads and plans `yaml` (the command pipeline by default) into a fresh run dir of `rig`. */
export function commandPlan(rig: Rig, yaml = COMMAND_PIPELINE, rounds = 1): { p: Pipeline; plan: Plan } {
  rig.write('sft.jsonl', '{"instruction": "q", "output": "a"}\n');
  const file = rig.write(`p${n}.yaml`, yaml);
  const p = loadPipeline(file);
  assert.ok(p.ok, p.ok ? '' : JSON.stringify(p.error));
  const r = buildPlan(p.value, { rounds, runDir: join(rig.dir, `run${n++}`), backend: 'docker', view: containerView(), dataProblems: 'error' });
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.error));
  return { p: p.value, plan: r.value.plan };
}
