import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { after } from 'node:test';
import { fingerprintPlan, hashFields, legacyHash } from '../../src/state/fingerprint.js';
import { commandPlan } from '../helpers/command-plan.js';
import { Rig } from '../helpers/rig.js';
import { decideActions } from '../../src/state/actions.js';
import type { Plan, PlanStage } from '../../src/pipeline/plan-types.js';
import type { RunState } from '../../src/state/state.js';

const h = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

describe('fingerprints and env values', () => {
  it('matches a fingerprint stored before env values were hashed, upstream renames included', () => {
    // what an older flux-train stored: the env value in clear (JSON), the upstream's old hash
    const oldA = { kind: 'command', 'env.WANDB_API_KEY': JSON.stringify('wandb-secret-123') };
    const newA = { kind: 'command', 'env.WANDB_API_KEY': `sha:${h(JSON.stringify('wandb-secret-123'))}` };
    const renamed = new Map<string, string>();
    assert.equal(legacyHash(oldA, renamed), hashFields(newA));
    renamed.set(hashFields(oldA), hashFields(newA));
    const oldB = { kind: 'train', [`dep.r1/a`]: hashFields(oldA) };
    const newB = { kind: 'train', [`dep.r1/a`]: hashFields(newA) };
    assert.equal(legacyHash(oldB, renamed), hashFields(newB));
    assert.equal(legacyHash({ kind: 'train' }, renamed), undefined, 'nothing to translate');
  });

  it('skips (and upgrades) a finished stage whose only difference is the old env format', () => {
    const fieldsNew = { kind: 'command', 'env.TOKEN_X': `sha:${h(JSON.stringify('abc'))}` };
    const fieldsOld = { kind: 'command', 'env.TOKEN_X': JSON.stringify('abc') };
    const stage = { key: 'r1/a', id: 'a', kind: 'command', dependsOn: [], outputDir: '/nonexistent/flux-fp-test' } as unknown as PlanStage;
    const plan = { stages: [stage] } as unknown as Plan;
    const state: RunState = {
      schema: 1,
      sessions: [],
      stages: { 'r1/a': { key: 'r1/a', status: 'done', attempts: [], done: { fingerprint: hashFields(fieldsOld), fields: fieldsOld, manifest: [], finishedAt: 't', durationMs: 1 } } },
    };
    const fps = new Map([['r1/a', { hash: hashFields(fieldsNew), fields: fieldsNew }]]);
    const [a] = decideActions(plan, fps, state, new Map());
    assert.equal(a?.action, 'skip', a?.reason);
    assert.equal(a?.upgradeFingerprint, true);
    // a real change is still a change
    const changed = new Map([['r1/a', { hash: hashFields({ ...fieldsNew, 'env.TOKEN_X': 'sha:other' }), fields: { ...fieldsNew, 'env.TOKEN_X': 'sha:other' } }]]);
    assert.equal(decideActions(plan, changed, state, new Map())[0]?.action, 'rerun');
  });
});

const rig = new Rig('fingerprint');
after(() => rig.cleanup());

describe('fingerprintPlan', () => {
  it('is stable for the same plan, in any run dir', () => {
    const a = fingerprintPlan(commandPlan(rig).plan);
    const b = fingerprintPlan(commandPlan(rig).plan);
    assert.deepEqual([...a.values()].map((f) => f.hash), [...b.values()].map((f) => f.hash));
  });

  it('changes with the command, and a change upstream changes everything downstream', () => {
    const { plan } = commandPlan(rig);
    const before = fingerprintPlan(plan);
    const gen = plan.stages[0];
    assert.ok(gen?.kind === 'command');
    const after = fingerprintPlan({ ...plan, stages: [{ ...gen, command: ['sh', '-c', 'echo other'] }, ...plan.stages.slice(1)] });
    assert.notEqual(after.get('r1/gen')?.hash, before.get('r1/gen')?.hash);
    assert.notEqual(after.get('r1/use')?.hash, before.get('r1/use')?.hash, 'dep.r1/gen carries the change downstream');
    assert.equal(after.get('r1/use')?.fields['dep.r1/gen'], after.get('r1/gen')?.hash);
  });

  it('keeps env values only as hashes, never in clear', () => {
    const fp = fingerprintPlan(commandPlan(rig).plan).get('r1/gen');
    assert.equal(fp?.fields['env.GREETING'], `sha:${h(JSON.stringify('abc'))}`);
    assert.ok(!JSON.stringify(fp).includes('"abc"'));
  });
});
