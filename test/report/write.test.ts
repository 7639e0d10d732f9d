import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { reportAtEnd, reportPathHint, writeReport } from '../../src/report/write.js';
import { BIN } from '../helpers/rig.js';
import { syntheticRun } from '../helpers/synthetic-run.js';

describe('report write and the report command', () => {
  const dir = syntheticRun({ rounds: 2, steps: 50 });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes report.html into the run dir by default, or where --out says', async () => {
    const r = writeReport(dir);
    assert.ok(r.ok);
    assert.equal(r.value.path, join(dir, 'report.html'));
    assert.match(readFileSync(r.value.path, 'utf8'), /<title>synthetic · flux-train report<\/title>/);
    const other = join(dir, 'elsewhere', 'r.html');
    const cli = await execa(process.execPath, [BIN, 'report', '--run-dir', dir, '--out', other], { reject: false });
    assert.equal(cli.exitCode, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`^wrote ${other} \\(\\d+ KiB in \\d+ ms\\)$`));
    assert.ok(existsSync(other));
  });

  // review of issue 16: an unknown cause in state.json made report exit 70
  for (const cause of ['bogus', 'toString', 'constructor']) {
    it(`writes the page when an attempt's cause is "${cause}", which this version does not know`, async () => {
      const odd = syntheticRun({ rounds: 1, steps: 20 });
      try {
        const state = JSON.parse(readFileSync(join(odd, 'state.json'), 'utf8')) as { stages: Record<string, { attempts: Record<string, unknown>[] }> };
        const attempt = Object.values(state.stages)[0]?.attempts[0];
        assert.ok(attempt, 'the synthetic run has an attempt');
        Object.assign(attempt, { outcome: 'failed', cause });
        writeFileSync(join(odd, 'state.json'), JSON.stringify(state));
        const cli = await execa(process.execPath, [BIN, 'report', '--run-dir', odd], { reject: false, all: true });
        assert.equal(cli.exitCode, 0, cli.all);
        assert.match(readFileSync(join(odd, 'report.html'), 'utf8'), new RegExp(`data-kind="failed-deterministic"[^]*cause: ${cause} \\(a cause this flux-train does not know`));
      } finally {
        rmSync(odd, { recursive: true, force: true });
      }
    });
  }

  it('exits 2 with the fix when the dir holds no run', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'flux-norun-'));
    try {
      const cli = await execa(process.execPath, [BIN, 'report', '--run-dir', empty], { reject: false });
      assert.equal(cli.exitCode, 2);
      assert.match(cli.stderr, /no flux-train run in .* \(no state\.json\)/);
      assert.match(cli.stderr, /--run-dir/);
      assert.ok(!existsSync(join(empty, 'report.html')));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('at the end of a round: writes the page as finished although the lock is still held, and never throws', () => {
    writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: '', heartbeat: new Date().toISOString(), command: 'round' }));
    try {
      assert.equal(reportAtEnd(dir, dir), 'report: report.html');
      const html = readFileSync(join(dir, 'report.html'), 'utf8');
      assert.doesNotMatch(html, /in progress/);
      assert.match(html, /class="pill ok">finished/);
      const empty = mkdtempSync(join(tmpdir(), 'flux-norun-'));
      assert.match(reportAtEnd(empty), /^report: not written \(no flux-train run in .*\)$/);
      rmSync(empty, { recursive: true, force: true });
    } finally {
      rmSync(join(dir, 'lock.json'), { force: true });
    }
  });

  it('gives the summary line relative to where the user is', () => {
    assert.equal(reportPathHint('runs/demo', '/home/u/proj'), 'report: runs/demo/report.html');
    assert.equal(reportPathHint('/data/runs/x', '/home/u'), 'report: /data/runs/x/report.html');
  });
});
