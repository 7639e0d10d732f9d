import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GpuSpec } from '../../src/pipeline/schema.js';
import type { StageOutcome } from '../../src/run/events.js';
import { GpuPool } from '../../src/run/gpu-pool.js';
import { runReady, type ReadyResult, type ReadyStage } from '../../src/run/ready-set.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Drives runReady by hand: each launched instance runs until the test ends it, so every step is deterministic. */
class Harness {
  readonly started: { key: string; gpus: GpuSpec | undefined }[] = [];
  readonly running = new Map<string, { gpus: GpuSpec | undefined; end: (o: StageOutcome) => void }>();
  readonly verified = new Set<string>();
  readonly blocked = new Map<string, string>();
  /** the most instances ever running at once, and GPU ids ever held twice at once */
  peak = 0;
  overlaps: string[] = [];
  readonly interrupt = new AbortController();
  result: Promise<ReadyResult>;

  constructor(stages: ReadyStage[], o: { maxParallel?: number; keepGoing?: boolean; pool?: GpuSpec; reattach?: string[]; held?: Record<string, GpuSpec>; skip?: string[]; verified?: string[] } = {}) {
    for (const k of o.verified ?? []) this.verified.add(k);
    this.result = runReady(
      stages,
      {
        settle: (s) => (o.skip?.includes(s.key) ? 'skipped' : undefined),
        reattach: (s) => (o.reattach?.includes(s.key) ? { gpus: o.held?.[s.key] ?? s.gpus } : undefined),
        verified: (k) => this.verified.has(k),
        block: (s, reason) => this.blocked.set(s.key, reason),
        launch: (s, gpus) => this.#launch(s, gpus),
      },
      { maxParallel: o.maxParallel ?? 1, keepGoing: o.keepGoing ?? false, pool: new GpuPool(o.pool ?? 'none'), interrupt: this.interrupt.signal },
    );
  }

  #launch(s: ReadyStage, gpus: GpuSpec | undefined): Promise<StageOutcome> {
    const held = [...this.running.values()].flatMap((r) => (typeof r.gpus === 'string' ? r.gpus.split(',') : []));
    for (const id of typeof gpus === 'string' ? gpus.split(',') : []) if (held.includes(id)) this.overlaps.push(`${s.key}:${id}`);
    this.started.push({ key: s.key, gpus });
    return new Promise((resolve) => {
      this.running.set(s.key, {
        gpus,
        end: (o) => {
          this.running.delete(s.key);
          if (o === 'done') this.verified.add(s.key);
          resolve(o);
        },
      });
      this.peak = Math.max(this.peak, this.running.size);
    });
  }

  async end(key: string, o: StageOutcome = 'done'): Promise<void> {
    const r = this.running.get(key);
    assert.ok(r, `${key} is not running (running: ${[...this.running.keys()].join(', ')})`);
    r.end(o);
    for (let i = 0; i < 5; i++) await tick();
  }

  get now(): string[] {
    return [...this.running.keys()].sort();
  }
}

/** ReasonFlux-V2's round shape: proposer SFT -> proposer DPO, and a reasoner DPO on its own. */
const round1: ReadyStage[] = [
  { key: 'r1/proposer_sft', dependsOn: [], gpus: 'none' },
  { key: 'r1/proposer_dpo', dependsOn: ['r1/proposer_sft'], gpus: 'none' },
  { key: 'r1/reasoner_dpo', dependsOn: [], gpus: 'none' },
];
const settle = async () => {
  for (let i = 0; i < 5; i++) await tick();
};

describe('the ready set', () => {
  it('with one slot runs the instances one at a time in plan order (the behaviour before parallel runs)', async () => {
    const h = new Harness(round1);
    await settle();
    assert.deepEqual(h.now, ['r1/proposer_sft']);
    await h.end('r1/proposer_sft');
    assert.deepEqual(h.now, ['r1/proposer_dpo']);
    await h.end('r1/proposer_dpo');
    await h.end('r1/reasoner_dpo');
    const r = await h.result;
    assert.equal(r.exitCode, 0);
    assert.equal(h.peak, 1);
    assert.deepEqual(h.started.map((s) => s.key), ['r1/proposer_sft', 'r1/proposer_dpo', 'r1/reasoner_dpo']);
  });

  it('with two slots starts every ready instance at once, and a dependent only after its input is verified', async () => {
    const h = new Harness(round1, { maxParallel: 2 });
    await settle();
    assert.deepEqual(h.now, ['r1/proposer_sft', 'r1/reasoner_dpo']);
    await h.end('r1/reasoner_dpo');
    assert.deepEqual(h.now, ['r1/proposer_sft'], 'proposer_dpo waits for its input, not for a slot');
    await h.end('r1/proposer_sft');
    assert.deepEqual(h.now, ['r1/proposer_dpo']);
    await h.end('r1/proposer_dpo');
    assert.equal((await h.result).exitCode, 0);
    assert.equal(h.peak, 2);
  });

  it('never runs more than --max-parallel instances', async () => {
    const wide = Array.from({ length: 6 }, (_, i) => ({ key: `r1/s${i}`, dependsOn: [], gpus: 'none' as const }));
    const h = new Harness(wide, { maxParallel: 3 });
    await settle();
    for (let i = 0; i < 6; i++) {
      assert.ok(h.running.size <= 3);
      await h.end(h.now[0] as string);
    }
    assert.equal((await h.result).exitCode, 0);
    assert.equal(h.peak, 3);
  });

  it('hands out disjoint GPU ids from the pool; the ids a stage gets come back when it ends', async () => {
    const four = Array.from({ length: 4 }, (_, i) => ({ key: `r1/s${i}`, dependsOn: [], gpus: 2 as const }));
    const h = new Harness(four, { maxParallel: 10, pool: '0,1,2,3' });
    await settle();
    assert.deepEqual(h.started, [
      { key: 'r1/s0', gpus: '0,1' },
      { key: 'r1/s1', gpus: '2,3' },
    ]);
    await h.end('r1/s1');
    assert.deepEqual(h.started[2], { key: 'r1/s2', gpus: '2,3' });
    await h.end('r1/s0');
    await h.end('r1/s2');
    await h.end('r1/s3');
    assert.equal((await h.result).exitCode, 0);
    assert.deepEqual(h.overlaps, []);
    assert.equal(h.peak, 2);
  });

  it('blocks a stage that asks for more GPUs than the pool holds, or ids outside it, and runs the rest', async () => {
    const h = new Harness(
      [
        { key: 'r1/big', dependsOn: [], gpus: 8 },
        { key: 'r1/elsewhere', dependsOn: [], gpus: '6,7' },
        { key: 'r1/ok', dependsOn: [], gpus: '1' },
      ],
      { maxParallel: 4, pool: '0,1,2,3' },
    );
    await settle();
    assert.match(h.blocked.get('r1/big') ?? '', /asks for 8 GPUs and the pool \(--gpus 0,1,2,3\) has 4/);
    assert.match(h.blocked.get('r1/elsewhere') ?? '', /GPU 6, 7, which is not in the pool/);
    assert.deepEqual(h.started, [{ key: 'r1/ok', gpus: '1' }]);
    await h.end('r1/ok');
    assert.equal((await h.result).exitCode, 1);
  });

  it('a failure blocks its dependents and the stages not started yet; a running sibling is never stopped; exit 1', async () => {
    const stages = [...round1, { key: 'r1/other', dependsOn: [], gpus: 'none' as const }];
    const h = new Harness(stages, { maxParallel: 2 });
    await settle();
    assert.deepEqual(h.now, ['r1/proposer_sft', 'r1/reasoner_dpo']);
    await h.end('r1/proposer_sft', 'failed');
    assert.deepEqual(h.now, ['r1/reasoner_dpo'], 'the sibling keeps running');
    assert.match(h.blocked.get('r1/proposer_dpo') ?? '', /input r1\/proposer_sft is not finished and verified/);
    assert.match(h.blocked.get('r1/other') ?? '', /not started: r1\/proposer_sft failed; pass --keep-going/);
    await h.end('r1/reasoner_dpo');
    const r = await h.result;
    assert.equal(r.exitCode, 1);
    assert.equal(r.outcomes.get('r1/reasoner_dpo'), 'done');
    assert.equal(r.outcomes.get('r1/other'), 'blocked');
  });

  it('with --keep-going, a failure still runs the stages that do not depend on it; exit 1', async () => {
    const stages = [...round1, { key: 'r1/other', dependsOn: [], gpus: 'none' as const }];
    const h = new Harness(stages, { maxParallel: 1, keepGoing: true });
    await settle();
    await h.end('r1/proposer_sft', 'failed');
    assert.deepEqual(h.now, ['r1/reasoner_dpo']);
    await h.end('r1/reasoner_dpo');
    assert.deepEqual(h.now, ['r1/other']);
    await h.end('r1/other');
    const r = await h.result;
    assert.equal(r.exitCode, 1);
    assert.equal(r.outcomes.get('r1/proposer_dpo'), 'blocked');
    assert.equal(r.outcomes.get('r1/other'), 'done');
  });

  it('Ctrl-C with several running starts nothing more and waits for every running one to end; exit 130', async () => {
    const stages = [...round1, { key: 'r1/other', dependsOn: [], gpus: 'none' as const }];
    const h = new Harness(stages, { maxParallel: 2 });
    await settle();
    h.interrupt.abort();
    await h.end('r1/reasoner_dpo', 'interrupted');
    assert.deepEqual(h.now, ['r1/proposer_sft'], 'nothing new starts after Ctrl-C');
    await h.end('r1/proposer_sft', 'interrupted');
    const r = await h.result;
    assert.equal(r.exitCode, 130);
    assert.deepEqual(h.started.map((s) => s.key).sort(), ['r1/proposer_sft', 'r1/reasoner_dpo']);
    assert.equal(r.outcomes.has('r1/other'), false);
  });

  it('re-attaches to every job still running, whatever --max-parallel says, before starting anything', async () => {
    const h = new Harness(round1, { maxParallel: 1, reattach: ['r1/proposer_sft', 'r1/reasoner_dpo'] });
    await settle();
    assert.deepEqual(h.now, ['r1/proposer_sft', 'r1/reasoner_dpo']);
    await h.end('r1/proposer_sft');
    assert.deepEqual(h.now, ['r1/reasoner_dpo'], 'the slot is still taken by the re-attached job');
    await h.end('r1/reasoner_dpo');
    await h.end('r1/proposer_dpo');
    assert.equal((await h.result).exitCode, 0);
    assert.equal(h.started.filter((s) => s.key === 'r1/proposer_sft').length, 1);
  });

  it('settles skipped instances without running them, and feeds them to what depends on them', async () => {
    const h = new Harness(round1, { maxParallel: 2, skip: ['r1/proposer_sft'], verified: ['r1/proposer_sft'] });
    await settle();
    assert.deepEqual(h.now, ['r1/proposer_dpo', 'r1/reasoner_dpo']);
    await h.end('r1/proposer_dpo');
    await h.end('r1/reasoner_dpo');
    const r = await h.result;
    assert.equal(r.outcomes.get('r1/proposer_sft'), 'skipped');
    assert.equal(r.exitCode, 0);
  });

  it('a re-attached job keeps the GPU ids its attempt was given; new instances get the others', async () => {
    const stages = [
      { key: 'r1/a', dependsOn: [], gpus: 2 as const },
      { key: 'r1/b', dependsOn: [], gpus: 2 as const },
    ];
    const h = new Harness(stages, { maxParallel: 2, pool: '0,1,2,3', reattach: ['r1/b'], held: { 'r1/b': '0,1' } });
    await settle();
    assert.deepEqual(h.started, [
      { key: 'r1/b', gpus: '0,1' },
      { key: 'r1/a', gpus: '2,3' },
    ]);
    assert.deepEqual(h.overlaps, []);
    await h.end('r1/a');
    await h.end('r1/b');
    assert.equal((await h.result).exitCode, 0);
  });
});
