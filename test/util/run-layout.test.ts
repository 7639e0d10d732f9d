import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunDir, stageFileName } from '../../src/util/run-layout.js';

describe('RunDir', () => {
  it('places every file of a run where flux-train logs, status and the report look for it', () => {
    const d = new RunDir('/runs/x');
    assert.equal(stageFileName('r2/reasoner_dpo'), 'r2-reasoner_dpo');
    assert.equal(d.outputDir(2, 'reasoner_dpo'), '/runs/x/outputs/r2/reasoner_dpo');
    assert.equal(d.outputDirOfKey('r2/reasoner_dpo'), d.outputDir(2, 'reasoner_dpo'));
    assert.equal(d.configFile('r1/a'), '/runs/x/configs/r1-a.yaml');
    assert.equal(d.attemptLog('r1/a', 3), '/runs/x/logs/r1-a.attempt3.log');
    assert.equal(d.attemptExitFile('r1/a', 3), '/runs/x/logs/r1-a.attempt3.exit');
    assert.equal(d.attemptPidFile('r1/a', 3), '/runs/x/logs/r1-a.attempt3.pid.json');
    assert.ok(d.attemptLog('r1/a', 3).startsWith(`/runs/x/logs/${d.attemptPrefix('r1/a')}`));
    assert.equal(d.sbatchScript('r1/a', 2), '/runs/x/slurm/r1-a.attempt2.sbatch');
    assert.equal(d.trashFor('r1/a', new Date('2026-01-02T03:04:05.678Z')), '/runs/x/trash/r1-a.2026-01-02T03-04-05-678Z');
    assert.equal(d.quarantinedCheckpoint('r1/a', 7, 123), '/runs/x/quarantine/r1-a/checkpoint-7.123');
    assert.deepEqual([d.stateFile, d.eventsFile, d.lockFile, d.logFile, d.reportFile], ['/runs/x/state.json', '/runs/x/events.jsonl', '/runs/x/lock.json', '/runs/x/flux-train.log', '/runs/x/report.html']);
    assert.equal(d.standinControl('r1/a'), '/runs/x/standin-control/r1-a');
  });
});
