import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { reportPathHint, writeReport } from '../../src/report/write.js';
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

  it('gives the summary line relative to where the user is', () => {
    assert.equal(reportPathHint('runs/demo', '/home/u/proj'), 'report: runs/demo/report.html');
    assert.equal(reportPathHint('/data/runs/x', '/home/u'), 'report: /data/runs/x/report.html');
  });
});
