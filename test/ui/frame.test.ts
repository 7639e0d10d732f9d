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
    assert.deepEqual(out, ['a\x1b[K\nb\x1b[K\n\x1b[J', '\x1b[2Fa\x1b[K\nc\x1b[K\nd\x1b[K\n\x1b[J', '\x1b[3F\x1b[2K\n\x1b[2K\n\x1b[2K\n\x1b[3F']);
  });

  it('after a resize starts again on a cleared screen, below a blank row, and cuts lines to the new width', () => {
    const out: string[] = [];
    const size = { columns: 80, rows: 24 };
    const u = createFrameUpdater((s) => out.push(s), () => ({ ...size }));
    u('round 1\n  step 2/8  25.0%  loss 1.6667');
    size.columns = 12;
    u('round 1\n  step 4/8  50.0%  loss 1.4286');
    assert.equal(out[1], '\x1b[H\x1b[2J\nround 1\x1b[K\n  step 4/8 \x1b[0m\x1b[K\n\x1b[J');
    u('round 1\n  step 6/8');
    assert.equal(out[2], '\x1b[2Fround 1\x1b[K\n  step 6/8\x1b[K\n\x1b[J');
  });

  it('shows the last rows of a frame taller than the window under a "… N more" line', () => {
    const out: string[] = [];
    const u = createFrameUpdater((s) => out.push(s), () => ({ columns: 80, rows: 4 }));
    u('1\n2\n3\n4');
    assert.equal(out[0], '… 3 more above\x1b[K\n4\x1b[K\n\x1b[J');
  });

  // review of issue 12: at 60x8 each redraw erased below from the top-left corner (a tall frame
  // clipped to fill the screen, or any frame drawn from the top of a fresh screen), which tmux takes
  // for a clear: every spinner tick copied a frame into the scrollback
  it('never erases below from where a frame begins: lines erase their own rest, and a tall frame keeps the top row free', () => {
    const out: string[] = [];
    const size = { columns: 60, rows: 8 };
    const u = createFrameUpdater((s) => out.push(s), () => ({ ...size }));
    const tree = (tick: number, n: number) => Array.from({ length: n }, (_, i) => `${'|/-\\'[(tick + i) % 4]} r1/stage_${i}`).join('\n');
    for (let tick = 0; tick < 5; tick++) u(tree(tick, tick < 3 ? 4 : 20));
    u.clear();
    for (const [i, frame] of out.entries()) {
      // an erase-below (ESC [ J) only ever follows a drawn line, never the move to the frame's start
      assert.doesNotMatch(frame, /(^|F)\x1b\[J/, `frame ${i}: ${JSON.stringify(frame)}`);
      const drawn = frame.split('\n').length - 1;
      assert.ok(drawn <= size.rows - 2, `frame ${i} draws ${drawn} lines in ${size.rows} rows`);
    }
    assert.match(out[4] as string, /^\x1b\[6F… 15 more above\x1b\[K\n/);
  });
});
