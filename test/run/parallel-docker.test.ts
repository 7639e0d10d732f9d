import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { containersOf, dockerReady, removeContainers, Rig, waitFor } from '../helpers/rig.js';

const skip = await dockerReady();
const rigs: Rig[] = [];
const ARGS = ['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--max-parallel', '2'];
const ROUND1 = ['r1-proposer_sft', 'r1-proposer_dpo', 'r1-reasoner_dpo'];

async function demoRig(name: string): Promise<Rig> {
  const rig = new Rig(name);
  rigs.push(rig);
  await rig.demo((y) => y.replace('backoff_seconds: 1', 'backoff_seconds: 0'));
  rig.write('run/standin-control/.keep', '');
  // long enough steps that two trainings are certainly in flight at once on a loaded machine
  for (const k of ROUND1) rig.control(k.replace('-', '/'), 'step_ms=400');
  return rig;
}

/** The trainer's own ledger: "<what> <key> <value>" lines, written inside the containers. */
function ledger(rig: Rig): string[][] {
  const p = join(rig.runDir, 'standin-control', 'ledger');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')) : [];
}

function launchedOnce(rig: Rig): void {
  const lines = ledger(rig);
  for (const k of ROUND1) {
    const mine = lines.filter((l) => l[1] === k);
    assert.equal(mine.filter((l) => l[0] === 'start').length, 1, `${k} trained more than once: ${mine.map((l) => l.join(' ')).join(' | ')}`);
    assert.equal(mine.filter((l) => l[0] === 'finish').length, 1, `${k} finished ${mine.map((l) => l.join(' ')).join(' | ')}`);
  }
}

describe('several stages at once on a real Docker Engine (--max-parallel 2)', { skip }, () => {
  after(async () => {
    for (const r of rigs) {
      await removeContainers(r.runDir);
      r.cleanup();
    }
  });

  it("round 1's independent trainings overlap, and nothing trains twice", async () => {
    const rig = await demoRig('parallel');
    const r = await rig.cli(ARGS, {}, 300_000);
    assert.equal(r.exitCode, 0, r.all);
    const lines = ledger(rig);
    const at = (what: string, k: string) => Number(lines.find((l) => l[0] === what && l[1] === k)?.[2]);
    // /proc/uptime is the host's in every container: one clock for both trainings
    assert.ok(at('launch', 'r1-reasoner_dpo') < at('finish', 'r1-proposer_sft') && at('launch', 'r1-proposer_sft') < at('finish', 'r1-reasoner_dpo'), `no overlap: ${lines.map((l) => l.join(' ')).join(' | ')}`);
    assert.ok(at('launch', 'r1-proposer_dpo') > at('finish', 'r1-proposer_sft'), 'proposer_dpo starts only after its input is finished');
    launchedOnce(rig);
    assert.ok(Object.values(rig.state().stages).every((s) => s.status === 'done'));
    assert.deepEqual(await containersOf(rig.runDir), []);
  });

  it('a CLI killed while two stages run: the rerun re-attaches to both and starts none twice', async () => {
    const rig = await demoRig('parallel-kill');
    const child = rig.cli(ARGS, {}, 300_000);
    await waitFor(async () => (await containersOf(rig.runDir)).filter((c) => c.state === 'running').length === 2, 120_000, 'two running containers');
    // status shows every running stage, and the lock names them all
    const st = await rig.cli(['status', '--run-dir', 'run', '--json']);
    assert.equal(st.exitCode, 0, st.all);
    const view = JSON.parse(st.stdout) as { running: { current?: string } | null; stages: { key: string; status: string }[] };
    assert.deepEqual(view.stages.filter((x) => x.status === 'running').map((x) => x.key).sort(), ['r1/proposer_sft', 'r1/reasoner_dpo']);
    assert.match(view.running?.current ?? '', /r1\/proposer_sft/);
    assert.match(view.running?.current ?? '', /r1\/reasoner_dpo/);
    child.kill('SIGKILL');
    assert.equal((await child).signal, 'SIGKILL');
    const r = await rig.cli(ARGS, {}, 300_000);
    assert.equal(r.exitCode, 0, r.all);
    const reattached = rig.events().filter((e) => e.type === 'stage-reattached').map((e) => ('key' in e ? e.key : ''));
    assert.deepEqual(reattached.sort(), ['r1/proposer_sft', 'r1/reasoner_dpo']);
    launchedOnce(rig);
    assert.ok(Object.values(rig.state().stages).every((s) => s.status === 'done'));
    assert.deepEqual(await containersOf(rig.runDir), []);
  });
});
