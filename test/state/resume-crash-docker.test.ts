import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import type { EventOf } from '../../src/run/events.js';
import { containersOf, dockerReady, removeContainers, Rig, sleep, waitFor } from '../helpers/rig.js';

const skip = await dockerReady();
const rigs: Rig[] = [];
const ARGS = ['round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run'];
const TRAIN_KEYS = ['r1-proposer_sft', 'r1-proposer_dpo', 'r1-reasoner_dpo', 'r2-proposer_dpo', 'r2-reasoner_dpo'];

async function demoRig(name: string, records = 32, edit?: (y: string) => string): Promise<Rig> {
  const rig = new Rig(name);
  rigs.push(rig);
  await rig.demo((y) => (edit ? edit(y) : y).replace('backoff_seconds: 1', 'backoff_seconds: 0'), records);
  rig.write('run/standin-control/.keep', '');
  return rig;
}

function ledger(rig: Rig): string[] {
  const p = join(rig.runDir, 'standin-control', 'ledger');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
}

describe('crash safety and resume on a real Docker Engine', { skip }, () => {
  after(async () => {
    for (const r of rigs) {
      await removeContainers(r.runDir);
      r.cleanup();
    }
  });

  it('SIGKILL of the CLI at 20+ points across a two-round run: every stage trains to completion exactly once, never two containers at once', async () => {
    const rig = await demoRig('crash', 96);
    for (const k of TRAIN_KEYS) rig.control(k.replace('-', '/'), 'step_ms=120');
    // every place a crash can fall, once per stage instance: progress between crashes is one step at a time
    // (a re-attached CLI passes only the checkpoint and finish points of that stage, so those repeat)
    const cycle = ['before-starting#1', 'after-config#1', 'after-start#1', 'checkpoint-seen#1', 'checkpoint-seen#1', 'after-started#1', 'checkpoint-seen#1', 'checkpoint-seen#1', 'before-finished#1', 'after-finished#1'];
    const points = [...cycle, ...cycle, ...cycle, ...cycle];
    let crashes = 0;
    const check = async () => {
      const running = (await containersOf(rig.runDir)).filter((c) => c.state === 'running');
      const stages = running.map((c) => c.stage);
      assert.equal(new Set(stages).size, stages.length, `two containers for one stage: ${stages.join(', ')}`);
    };
    for (const p of points) {
      const r = await rig.cli(ARGS, { FLUX_TRAIN_CRASH_AT: p });
      if (process.env['DEBUG_CRASH']) console.error(p, r.signal ?? r.exitCode, (r.stdout.match(/^r\d\/\w+: (starting|re-attached|finished)[^\n]*/gm) ?? []).join(' | '));
      if (r.signal === 'SIGKILL') crashes++;
      else assert.ok(r.exitCode === 0, `${p}: ${r.all}`);
      await check();
    }
    // and at random moments, from outside
    for (const delay of [300, 700, 150, 1100, 500, 900, 250, 1300]) {
      const child = rig.cli(ARGS);
      await sleep(delay);
      child.kill('SIGKILL');
      const r = await child;
      if (r.signal === 'SIGKILL') crashes++;
      await check();
    }
    const final = await rig.cli(ARGS);
    assert.equal(final.exitCode, 0, final.all);
    // from the files on disk: the trainer's own ledger
    const lines = ledger(rig);
    for (const k of TRAIN_KEYS) {
      const mine = lines.filter((l) => l.split(' ')[1] === k);
      assert.equal(mine.filter((l) => l.startsWith('finish')).length, 1, `${k} finished ${mine.join(' | ')}`);
      assert.equal(mine.filter((l) => l.startsWith('start')).length, 1, `${k} was started more than once: ${mine.join(' | ')}`);
      assert.ok(existsSync(join(rig.runDir, 'outputs', k.replace('-', '/'), 'train_results.json')));
    }
    const s = rig.state();
    assert.ok(Object.values(s.stages).every((x) => x.status === 'done'), JSON.stringify(Object.values(s.stages).map((x) => [x.key, x.status])));
    assert.deepEqual(await containersOf(rig.runDir), []);
    assert.ok(crashes >= 20, `only ${crashes} crashes happened`);
  });

  it('a container killed after a checkpoint resumes from it, losing at most save_steps', async () => {
    const rig = await demoRig('kill', 200);
    rig.control('r1/proposer_sft', 'step_ms=60');
    const child = rig.cli([...ARGS, '--only', 'proposer_sft']);
    await waitFor(() => existsSync(join(rig.runDir, 'outputs/r1/proposer_sft/checkpoint-8')), 60_000, 'checkpoint-8');
    const [c] = (await containersOf(rig.runDir)).filter((x) => x.state === 'running');
    assert.ok(c);
    await execa('docker', ['kill', c.id]);
    const r = await child;
    assert.equal(r.exitCode, 0, r.all);
    const a = rig.state().stages['r1/proposer_sft']?.attempts ?? [];
    assert.equal(a[0]?.cause, 'killed');
    assert.ok((a[1]?.resumeFrom ?? 0) >= 8);
    assert.ok((a[1]?.stepsLost ?? 99) <= 4, `lost ${a[1]?.stepsLost} steps`);
    assert.match(readFileSync(join(rig.runDir, 'logs/r1-proposer_sft.attempt2.log'), 'utf8'), /Resuming training from/);
  });

  it('a half-written newest checkpoint is quarantined and the previous one used', async () => {
    const rig = await demoRig('torn', 64);
    rig.control('r1/proposer_sft', 'fail_at=10 mode=crash_in_save once=1');
    const r = await rig.cli([...ARGS, '--only', 'proposer_sft']);
    assert.equal(r.exitCode, 0, r.all);
    const q = rig.events().find((e): e is EventOf<'checkpoint-quarantined'> => e.type === 'checkpoint-quarantined');
    assert.ok(q, r.all);
    assert.match(q.path, /checkpoint-10$/);
    assert.match(q.why, /does not parse/);
    assert.ok(readdirSync(join(rig.runDir, 'quarantine', 'r1-proposer_sft')).some((f) => f.startsWith('checkpoint-10.')));
    const a = rig.state().stages['r1/proposer_sft']?.attempts ?? [];
    assert.equal(a[1]?.resumeFrom, 8);
    assert.match(r.stdout, /WARNING: broken .*checkpoint-10/);
  });

  it('a changed dataset file reruns that stage and everything downstream; the rest is skipped; old outputs are moved aside', async () => {
    const rig = await demoRig('changed');
    const first = await rig.cli(ARGS);
    assert.equal(first.exitCode, 0, first.all);
    appendFileSync(rig.path('.demo/data/dpo_reasoner.jsonl'), `${JSON.stringify({ instruction: 'new', input: '', chosen: 'a', rejected: 'b' })}\n`);
    const dry = await rig.cli([...ARGS, '--dry-run', '--json']);
    const plan = JSON.parse(dry.stdout) as { stages: { key: string; action: string; reason: string }[] };
    const act = Object.fromEntries(plan.stages.map((s) => [s.key, s.action]));
    assert.deepEqual(act, {
      'r1/proposer_sft': 'skip',
      'r1/proposer_dpo': 'skip',
      'r1/reasoner_dpo': 'rerun',
      'r1/sample_pairs': 'rerun',
      'r2/proposer_dpo': 'rerun',
      'r2/reasoner_dpo': 'rerun',
      'r2/sample_pairs': 'rerun',
    });
    assert.match(plan.stages[2]?.reason ?? '', /changed since it finished: dataset\.dpo_reasoner/);
    assert.match(plan.stages[3]?.reason ?? '', /input r1\/reasoner_dpo runs again/);
    const r = await rig.cli(ARGS);
    assert.equal(r.exitCode, 0, r.all);
    const trash = readdirSync(join(rig.runDir, 'trash'));
    assert.equal(trash.length, 5, trash.join());
    assert.equal(ledger(rig).filter((l) => l.startsWith('finish r1-proposer_sft')).length, 1);
    assert.equal(ledger(rig).filter((l) => l.startsWith('finish r1-reasoner_dpo')).length, 2);
  });

  it('refuses to resume across a change of the LR schedule, and --restart-stage starts fresh', async () => {
    const rig = await demoRig('schedule', 200);
    rig.control('r1/proposer_sft', 'step_ms=60');
    const child = rig.cli([...ARGS, '--only', 'proposer_sft']);
    await waitFor(() => existsSync(join(rig.runDir, 'outputs/r1/proposer_sft/checkpoint-4')), 60_000, 'checkpoint-4');
    child.kill('SIGINT');
    await child;
    writeFileSync(rig.path('pipelines/demo.yaml'), rig.read('pipelines/demo.yaml').replace('args: {learning_rate: 1.0e-5, num_train_epochs: 1.0}', 'args: {learning_rate: 1.0e-5, num_train_epochs: 2.0}'));
    const r = await rig.cli([...ARGS, '--only', 'proposer_sft']);
    assert.equal(r.exitCode, 1, r.all);
    assert.match(r.stdout, /refusing to resume r1\/proposer_sft from checkpoint-\d+: args\.num_train_epochs changed.*--restart-stage proposer_sft/);
    rig.control('r1/proposer_sft', 'step_ms=1');
    const fresh = await rig.cli([...ARGS, '--only', 'proposer_sft', '--restart-stage', 'proposer_sft']);
    assert.equal(fresh.exitCode, 0, fresh.all);
    assert.equal(readdirSync(join(rig.runDir, 'trash')).length, 1);
    assert.doesNotMatch(readFileSync(join(rig.runDir, 'logs/r1-proposer_sft.attempt2.log'), 'utf8'), /Resuming/);
  });

  it('a truncated state file stops with a way out; repair rebuilds it and finished stages stay finished', async () => {
    const rig = await demoRig('corrupt');
    assert.equal((await rig.cli(ARGS)).exitCode, 0);
    const text = rig.read('run/state.json');
    writeFileSync(join(rig.runDir, 'state.json'), text.slice(0, text.length / 2));
    const r = await rig.cli(ARGS);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /state .*state\.json is corrupt or truncated/);
    assert.match(r.stderr, /flux-train repair --run-dir/);
    const rep = await rig.cli(['repair', '--run-dir', 'run']);
    assert.equal(rep.exitCode, 0, rep.all);
    const again = await rig.cli(ARGS);
    assert.equal(again.exitCode, 0, again.all);
    assert.match(again.stdout, /done: 7 skipped/);
  });
});
