import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFrameUpdater, fitLine, rowsAt, visibleWidth } from '../../src/ui/frame.js';

describe('frame updater', () => {
  it('measures and cuts lines by what is visible, keeping colour codes', () => {
    assert.equal(visibleWidth('\x1b[32m✔\x1b[39m round 1'), 9);
    assert.equal(fitLine('abcdef', 10), 'abcdef');
    assert.equal(fitLine('\x1b[32mabcdef\x1b[39m', 3), '\x1b[32mabc\x1b[0m');
  });

  it('counts the rows a re-wrapping terminal gives long lines', () => {
    assert.equal(rowsAt([10, 60, 0], 30), 4);
    assert.equal(rowsAt([30], 30), 1);
  });

  it('redraws in place: erases exactly the rows of the previous frame', () => {
    const out: string[] = [];
    const size = { columns: 80, rows: 24 };
    const u = createFrameUpdater((s) => out.push(s), () => ({ ...size }));
    u('a\nb');
    u('a\nb'); // unchanged: nothing written
    u('a\nc\nd');
    u.clear();
    assert.deepEqual(out, ['a\nb\n', '\x1b[2F\x1b[Ja\nc\nd\n', '\x1b[3F\x1b[J']);
  });

  it('after a resize starts again on a cleared screen, below a blank row, and cuts lines to the new width', () => {
    const out: string[] = [];
    const size = { columns: 80, rows: 24 };
    const u = createFrameUpdater((s) => out.push(s), () => ({ ...size }));
    u('round 1\n  step 2/8  25.0%  loss 1.6667');
    size.columns = 12;
    u('round 1\n  step 4/8  50.0%  loss 1.4286');
    assert.equal(out[1], '\x1b[H\x1b[2J\nround 1\n  step 4/8 \x1b[0m\n');
    u('round 1\n  step 6/8');
    assert.equal(out[2], '\x1b[2F\x1b[Jround 1\n  step 6/8\n');
  });

  it('shows the last rows of a frame taller than the window under a "… N more" line', () => {
    const out: string[] = [];
    const u = createFrameUpdater((s) => out.push(s), () => ({ columns: 80, rows: 4 }));
    u('1\n2\n3\n4');
    assert.equal(out[0], '… 3 more above\n4\n');
  });

  // review of issue 12: at 60x8 a taller tree filled the screen, so each erase began at the top-left
  // corner, which tmux takes for a clear: every spinner tick copied a frame into the scrollback
  it('never lets a frame reach the top row of the window, so its erase never starts at the top-left', () => {
    const out: string[] = [];
    const size = { columns: 60, rows: 8 };
    const u = createFrameUpdater((s) => out.push(s), () => ({ ...size }));
    const tree = (tick: number) => Array.from({ length: 20 }, (_, i) => `${'|/-\\'[(tick + i) % 4]} r1/stage_${i}`).join('\n');
    for (let tick = 0; tick < 5; tick++) u(tree(tick));
    for (const [i, frame] of out.entries()) {
      const drawn = frame.replace(/^\x1b\[\d+F\x1b\[J/, '');
      // the frame's lines plus the cursor's row below them: fewer than the window's rows
      assert.ok(drawn.split('\n').length - 1 + 1 <= size.rows - 1, `frame ${i} takes ${drawn.split('\n').length} rows of ${size.rows}`);
      if (i > 0) assert.match(frame, /^\x1b\[6F\x1b\[J… 15 more above\n/);
    }
  });
});
