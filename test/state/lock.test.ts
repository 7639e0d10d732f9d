import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RunLock } from '../../src/state/lock.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('lock');
after(() => rig.cleanup());

describe('run lock', () => {
  it('lets one holder in and names it to the next', () => {
    const a = RunLock.acquire(rig.path('r1'), 'flux-train round --n 3');
    assert.ok(a.ok);
    a.value.update('r1/proposer_sft');
    const b = RunLock.acquire(rig.path('r1'), 'flux-train round --n 3');
    assert.equal(b.ok, false);
    if (!b.ok) {
      assert.equal(b.error.reason, 'locked');
      assert.equal(b.error.exitCode, 3);
      assert.match(b.error.message, new RegExp(`pid ${process.pid} on ${hostname()}`));
      assert.match(b.error.message, /now running r1\/proposer_sft/);
    }
    a.value.release();
    const c = RunLock.acquire(rig.path('r1'), 'again');
    assert.ok(c.ok);
    c.value.release();
  });

  it('takes over the lock of a dead process on this host', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid as number;
    await new Promise((r) => child.on('exit', r));
    const dir = rig.path('r2');
    RunLock.acquire(dir, 'x').ok || assert.fail();
    // overwrite with a dead owner, as if a CLI had been SIGKILLed
    writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid, host: hostname(), startedAt: new Date().toISOString(), heartbeat: new Date().toISOString(), command: 'flux-train round --n 3' }));
    const d = RunLock.acquire(dir, 'new owner');
    assert.ok(d.ok, d.ok ? '' : d.error.message);
    assert.equal(d.value.takenOver?.owner?.pid, pid);
    assert.equal(JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8')).pid, process.pid);
    d.value.release();
  });

  it('takes over a lock from another host only after its heartbeat went stale', () => {
    const dir = rig.path('r3');
    RunLock.acquire(dir, 'x').ok || assert.fail();
    const old = new Date(Date.now() - 120_000).toISOString();
    writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: 4242, host: 'other-host', startedAt: old, heartbeat: new Date().toISOString(), command: 'c' }));
    assert.equal(RunLock.acquire(dir, 'y', { staleMs: 60_000 }).ok, false);
    writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: 4242, host: 'other-host', startedAt: old, heartbeat: old, command: 'c' }));
    const e = RunLock.acquire(dir, 'y', { staleMs: 60_000 });
    assert.ok(e.ok);
    e.value.release();
  });
});
