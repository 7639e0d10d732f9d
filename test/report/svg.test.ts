import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { esc, fmtDuration, fmtNum, linear, ticks } from '../../src/report/svg.js';

describe('report svg helpers', () => {
  it('escapes everything that could break out of text or an attribute', () => {
    assert.equal(esc(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('ticks are round numbers inside the range', () => {
    assert.deepEqual(ticks(0, 10_000, 5), [0, 2000, 4000, 6000, 8000, 10000]);
    assert.deepEqual(ticks(0.23, 1.71, 5).map((t) => +t.toFixed(9)), [0.5, 1, 1.5]);
    assert.ok(ticks(0.23, 1.71, 5).every((t) => t >= 0.23 && t <= 1.71));
    assert.deepEqual(ticks(3, 3), [3]);
  });

  it('scales map the domain onto the range, inverted for y', () => {
    const y = linear(0, 2, 100, 0);
    assert.equal(y(0), 100);
    assert.equal(y(2), 0);
    assert.equal(y(1), 50);
  });

  it('formats numbers and durations compactly', () => {
    assert.deepEqual([fmtNum(0), fmtNum(12_000), fmtNum(0.5), fmtNum(5e-7)], ['0', '12k', '0.5', '5.0e−7']);
    assert.deepEqual([fmtDuration(42_000), fmtDuration(125_000), fmtDuration(3 * 3600_000 + 5 * 60_000)], ['42s', '2m05s', '3h05m']);
  });
});
