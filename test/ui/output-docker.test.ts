import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, containersOf, dockerReady, removeContainers, Rig } from '../helpers/rig.js';

const skip = await dockerReady();

/** Runs the CLI with its stdout on a pipe that this side closes after the first line (`| head -1`). */
function runThenClosePipe(rig: Rig, args: string[]): Promise<{ code: number | null; stderr: string; firstLine: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: rig.dir, env: { ...process.env, FLUX_TRAIN_RENDERER: 'plain' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let firstLine = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', (d: Buffer) => {
      firstLine = d.toString().split('\n')[0] ?? '';
      child.stdout.destroy();
    });
    child.on('exit', (code) => resolve({ code, stderr, firstLine }));
  });
}

describe('a closed stdout (EPIPE)', { skip }, () => {
  const rig = new Rig('epipe');
  before(async () => {
    await rig.demo();
  });
  after(async () => {
    await removeContainers(rig.runDir);
    rig.cleanup();
  });

  it('stops the output, not the run: every stage finishes, the log says why the output stopped, the lock is released', async () => {
    const r = await runThenClosePipe(rig, ['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run']);
    assert.match(r.firstLine, /^flux-train: demo-standin/);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|internal error|at .*\.js/);
    assert.ok(Object.values(rig.state().stages).every((s) => s.status === 'done'));
    assert.equal(rig.state().stages['r1/sample_pairs']?.status, 'done');
    assert.match(readFileSync(join(rig.runDir, 'flux-train.log'), 'utf8'), /stdout was closed \(EPIPE\): nothing more is printed there; the run goes on/);
    assert.equal(existsSync(join(rig.runDir, 'lock.json')), false);
    assert.deepEqual(await containersOf(rig.runDir), []);
  });

  it('`status | head -1` prints its line and exits quietly', async () => {
    const r = await runThenClosePipe(rig, ['status', '--run-dir', 'run']);
    assert.match(r.firstLine, /^run \S+\/run /);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|internal error/);
  });
});
