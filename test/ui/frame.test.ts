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

  it('shows the last rows of a frame taller than the window', () => {
    const out: string[] = [];
    const u = createFrameUpdater((s) => out.push(s), () => ({ columns: 80, rows: 3 }));
    u('1\n2\n3\n4');
    assert.equal(out[0], '3\n4\n');
  });
});
