import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containersOf, dockerReady, removeContainers, Rig } from '../helpers/rig.js';
import { Terminal, tmuxReady } from '../helpers/tmux.js';

const skip = (await dockerReady()) || (await tmuxReady());

/** `start <rN-stage> <first step>` lines the stand-in trainer appends each time it starts training. */
function starts(rig: Rig): { key: string; from: number }[] {
  const p = join(rig.runDir, 'standin-control', 'ledger');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('start '))
    .map((l) => {
      const [, key, from] = l.split(' ');
      return { key: key ?? '', from: Number(from) };
    });
}

describe('the terminal view on a real pseudo-terminal (tmux) with real containers', { skip }, () => {
  const rig = new Rig('tty');
  const term = new Terminal(rig.dir);
  const args = ['round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run'];
  before(async () => {
    await rig.demo();
  });
  after(async () => {
    await term.close();
    await removeContainers(rig.runDir);
    await removeContainers(rig.path('run2'));
    rig.cleanup();
  });

  it('Ctrl-C mid-stage stops the container, records the interruption, unlocks and exits 130', async () => {
    rig.control('r1/proposer_sft', 'step_ms=700');
    await term.run(args);
    // past checkpoint-4 (save_steps 4), so the rerun has something to resume from
    await term.waitScreen(/proposer_sft \(sft\)\n\s+› step 6\/8/, 90_000);
    await term.keys('C-c');
    const code = await term.waitExit(90_000);
    const screen = await term.screen();
    assert.equal(code, 130, screen);
    assert.match(screen, /✖ proposer_sft \(sft\)\n\s+› interrupted; rerun the same command to resume/);
    assert.match(screen, /round 2: not reached/);
    assert.match(screen, /^stopped: 1 interrupted \(\d+s\)$/m);
    assert.match(screen, /^next: flux-train resume --run-dir \S+\/run$/m);
    assert.deepEqual(await containersOf(rig.runDir), [], 'no container left, running or exited');
    assert.equal(existsSync(join(rig.runDir, 'lock.json')), false, 'the lock is released');
    const ev = rig.events();
    assert.ok(ev.some((e) => e.type === 'stage-interrupted' && e.key === 'r1/proposer_sft' && !e.detached));
    assert.deepEqual(
      ev.filter((e) => e.type === 'run-finished').map((e) => e.type === 'run-finished' && e.exitCode),
      [130],
    );
    assert.equal(rig.state().stages['r1/proposer_sft']?.status, 'interrupted');
  });

  it('the rerun on the terminal finishes, resuming from the checkpoint, with nothing trained twice', async () => {
    const before = starts(rig).length;
    await term.run(args);
    const code = await term.waitExit(180_000);
    const screen = await term.screen();
    assert.equal(code, 0, screen);
    assert.match(screen, /^done: 7 done \(\d+\S*\)$/m);
    assert.match(screen, /^report: (\S+\/)?run\/report\.html$/m);
    assert.match(screen, /^run dir: \S+\/run$/m);
    assert.ok(existsSync(join(rig.runDir, 'report.html')), 'round wrote report.html at its end');
    const all = starts(rig);
    const again = all.slice(before);
    // every stage instance trained from step 0 once at most; the interrupted one continued from its checkpoint
    for (const key of new Set(all.map((s) => s.key))) assert.ok(all.filter((s) => s.key === key && s.from === 0).length <= 1, `${key} trained from scratch twice: ${JSON.stringify(all)}`);
    const sft = again.find((s) => s.key === 'r1-proposer_sft');
    assert.ok(sft && sft.from > 0, `r1/proposer_sft resumed from a checkpoint: ${JSON.stringify(again)}`);
    // progress after the resume starts after the checkpoint, not with the previous attempt's lines
    const ev = rig.events();
    const resumed = ev.findIndex((e) => e.type === 'stage-starting' && e.key === 'r1/proposer_sft' && e.attempt === 2);
    const firstProgress = ev.slice(resumed).find((e) => e.type === 'stage-progress' && e.key === 'r1/proposer_sft');
    assert.ok(firstProgress?.type === 'stage-progress' && firstProgress.step > sft.from, JSON.stringify(firstProgress));
  });

  it('a rerun of a finished run ends at once, every stage shown as skipped with its reason', async () => {
    await term.run(args);
    // a liveness bound, not a timing target: before the fix this never ended
    const code = await term.waitExit(60_000);
    const screen = await term.screen();
    assert.equal(code, 0, screen);
    assert.equal(screen.match(/↓ \w+ \((sft|dpo|command)\): skipped \(finished \S+, unchanged\)/g)?.length, 7, screen);
    assert.match(screen, /^done: 7 skipped \(\d+s\)$/m);
  });

  it('a second Ctrl-C kills the stage at once instead of waiting out the grace period, and says so', async () => {
    // SIGTERM waits for the stand-in's 20 s step; the grace period is longer still
    rig.control('r1/reasoner_dpo', 'step_ms=20000');
    await term.run([...args, '--restart-stage', 'r1/reasoner_dpo', '--grace', '300']);
    await term.waitScreen(/reasoner_dpo \(dpo\)\n\s+› running in/, 90_000);
    await term.keys('C-c');
    await term.waitScreen(/press Ctrl-C again to kill it now/, 10_000);
    await term.keys('C-c');
    const code = await term.waitExit(120_000);
    const screen = await term.screen();
    assert.equal(code, 130, screen);
    assert.match(screen, /second Ctrl-C, killing the running stage now/);
    assert.deepEqual(await containersOf(rig.runDir), []);
    assert.equal(existsSync(join(rig.runDir, 'lock.json')), false);
    assert.ok(rig.events().some((e) => e.type === 'warning' && e.key === 'r1/reasoner_dpo' && /killed at once/.test(e.message)));
  });

  // review of issue 12: at 60x8 every spinner tick erased from the top-left corner, which tmux takes
  // for a clear, so each tick copied a whole frame into the scrollback
  it('a tree taller than a 60x8 window leaves the scrollback alone while it runs', async () => {
    rig.write('run3/standin-control/r1-proposer_sft', 'step_ms=400\n');
    await term.run(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run3'], { columns: 60, rows: 8 });
    await term.waitScreen(/proposer_sft \(sft\)/, 90_000);
    const code = await term.waitExit(180_000);
    const history = await term.historySize();
    assert.equal(code, 0, await term.screen());
    // the final tree and summary scroll up once (about 10 lines); a frame copy per tick would be hundreds
    assert.ok(history <= 30, `${history} lines went into the scrollback:\n${(await term.tmux('capture-pane', '-p', '-t', 'flux', '-S', '-80', '-E', '-1')).slice(0, 3000)}`);
    await removeContainers(rig.path('run3'));
  });

  it('resizing the window while it runs leaves one clean tree on the screen', async () => {
    rig.write('run2/standin-control/r1-proposer_sft', 'step_ms=300\n');
    rig.write('run2/standin-control/r1-proposer_dpo', 'step_ms=300\n');
    await term.run(['round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run2']);
    await term.waitScreen(/proposer_sft \(sft\)\n\s+› /, 90_000);
    for (const [c, r] of [[50, 20], [120, 40], [30, 25], [90, 15], [40, 40], [120, 40]] as const) {
      await term.resize(c, r);
      await new Promise((res) => setTimeout(res, 300));
    }
    const code = await term.waitExit(180_000);
    const screen = await term.screen();
    assert.equal(code, 0, screen);
    const lines = screen.split('\n').filter((l) => l.trim() !== '');
    // exactly the final tree, the summary and nothing else: no stale frame, no half-erased line
    assert.deepEqual(lines, [
      '✔ round 1',
      ...[/^ {2}✔ proposer_sft \(sft\): \S+, loss [\d.]+$/, /^ {2}✔ proposer_dpo \(dpo\): \S+, loss [\d.]+$/, /^ {2}✔ reasoner_dpo \(dpo\): \S+, loss [\d.]+$/, /^ {2}✔ sample_pairs \(command\): \S+$/].map((re, i) => {
        assert.match(lines[i + 1] ?? '', re, screen);
        return lines[i + 1];
      }),
      '✔ round 2',
      ...[/^ {2}✔ proposer_dpo \(dpo\): \S+, loss [\d.]+$/, /^ {2}✔ reasoner_dpo \(dpo\): \S+, loss [\d.]+$/, /^ {2}✔ sample_pairs \(command\): \S+$/].map((re, i) => {
        assert.match(lines[i + 6] ?? '', re, screen);
        return lines[i + 6];
      }),
      ...[/^done: 7 done \(\S+\)$/, /^report: (\S+\/)?run2\/report\.html$/, /^run dir: \S+\/run2$/].map((re, i) => {
        assert.match(lines[i + 9] ?? '', re, screen);
        return lines[i + 9];
      }),
    ]);
  });
});
