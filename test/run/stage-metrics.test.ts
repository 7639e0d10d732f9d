import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkMetrics, flattenMetrics, readStageMetrics } from '../../src/run/stage-metrics.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('stage-metrics');
after(() => rig.cleanup());

function mkdirp(root: string, name: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe('checkMetrics', () => {
  it('keeps benchmark -> metric -> number', () => {
    assert.deepEqual(checkMetrics({ aime24: { accuracy: 0.43, n: 30 } }), { kind: 'ok', metrics: { aime24: { accuracy: 0.43, n: 30 } } });
  });

  for (const [what, v, problem] of [
    ['an array', [1], /expected \{"<benchmark>"/],
    ['null', null, /got null/],
    ['a flat object', { accuracy: 0.4 }, /at accuracy: .*got 0\.4/],
    ['a string metric', { aime24: { accuracy: '0.4' } }, /at aime24\.accuracy: expected a finite number, got the string "0\.4"/],
    ['a null metric', { aime24: { accuracy: null } }, /at aime24\.accuracy: expected a finite number, got null/],
    ['no benchmarks', {}, /no benchmarks/],
    ['a benchmark without metrics', { aime24: {} }, /at aime24: no metrics/],
    ['an empty benchmark name', { '': { a: 1 } }, /benchmark name is empty/],
  ] as const) {
    it(`refuses ${what}`, () => {
      const r = checkMetrics(v);
      assert.equal(r.kind, 'bad');
      assert.match(r.kind === 'bad' ? r.problem : '', problem);
    });
  }

  it('keeps a benchmark or metric named __proto__ as a key, not as the prototype', () => {
    const r = checkMetrics(JSON.parse('{"__proto__": {"__proto__": 1}}'));
    assert.equal(r.kind, 'ok');
    const m = r.kind === 'ok' ? r.metrics : {};
    assert.deepEqual(Object.keys(m), ['__proto__']);
    assert.deepEqual(Object.entries(Object.getOwnPropertyDescriptor(m, '__proto__')?.value as object), [['__proto__', 1]]);
    assert.deepEqual(flattenMetrics(m), { '__proto__.__proto__': 1 });
  });

  it('flattens to bench.metric names', () => {
    assert.deepEqual(flattenMetrics({ aime24: { accuracy: 0.5 }, math500: { accuracy: 0.25, n: 4 } }), { 'aime24.accuracy': 0.5, 'math500.accuracy': 0.25, 'math500.n': 4 });
  });
});

describe('readStageMetrics', () => {
  it('reads none when the stage wrote no metrics.json', () => {
    assert.deepEqual(readStageMetrics(mkdirp(rig.dir, 'none')), { kind: 'none' });
  });

  it('reads a written file, and calls JSON that does not parse bad', () => {
    const dir = mkdirp(rig.dir, 'some');
    rig.write('some/metrics.json', '{"math500": {"accuracy": 1, "n": 2}}');
    assert.deepEqual(readStageMetrics(dir), { kind: 'ok', metrics: { math500: { accuracy: 1, n: 2 } } });
    const broken = mkdirp(rig.dir, 'broken');
    rig.write('broken/metrics.json', '{"math500": ');
    const r = readStageMetrics(broken);
    assert.equal(r.kind, 'bad');
    assert.match(r.kind === 'bad' ? r.problem : '', /metrics\.json is not JSON/);
  });

  it('refuses a file too big to be metrics without reading it into memory', () => {
    const dir = mkdirp(rig.dir, 'big');
    rig.write('big/metrics.json', `{"a": {"b": 1}, "pad": "${'x'.repeat(1024 * 1024)}"}`);
    const r = readStageMetrics(dir);
    assert.equal(r.kind, 'bad');
    assert.match(r.kind === 'bad' ? r.problem : '', /bytes; metrics are a few numbers/);
  });
});
