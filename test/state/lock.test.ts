import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readOwner, RunLock } from '../../src/state/lock.js';
import { BIN, Rig } from '../helpers/rig.js';

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

  it('takes over a lock from another host only after its heartbeat stayed unchanged for the timeout', async () => {
    const dir = rig.path('r3');
    RunLock.acquire(dir, 'x').ok || assert.fail();
    const old = new Date(Date.now() - 120_000).toISOString();
    writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: 4242, host: 'other-host', startedAt: old, heartbeat: old, command: 'c' }));
    const first = RunLock.acquire(dir, 'y', { staleMs: 300 });
    assert.equal(first.ok, false, 'first seen: held, whatever its clock says');
    if (!first.ok) assert.match(first.error.fix, /run again over a minute from now takes the lock over/);
    await new Promise((r) => setTimeout(r, 500));
    const e = RunLock.acquire(dir, 'y', { staleMs: 300 });
    assert.ok(e.ok, e.ok ? '' : e.error.message);
    assert.match(e.value.takenOver?.why ?? '', /no new heartbeat from other-host for \d+s by this host's clock/);
    e.value.release();
  });

  // review of issue 10: a remote clock skewed by more than the timeout made a live owner look stale
  for (const [name, skewMs] of [
    ['two hours behind', -7_200_000],
    ['two hours ahead', 7_200_000],
  ] as const) {
    it(`keeps a live owner on another host whose clock is ${name}, as long as its heartbeat changes`, async () => {
      const dir = rig.path(`skew-${skewMs}`);
      mkdirSync(dir, { recursive: true });
      const startedAt = new Date(Date.now() + skewMs - 600_000).toISOString();
      for (let beat = 0; beat < 4; beat++) {
        const heartbeat = new Date(Date.now() + skewMs).toISOString();
        writeFileSync(join(dir, 'lock.json'), JSON.stringify({ pid: 4242, host: 'other-host', startedAt, heartbeat, command: 'c' }));
        const r = RunLock.acquire(dir, 'y', { staleMs: 150 });
        assert.equal(r.ok, false, `beat ${beat}: ${r.ok ? `taken over: ${r.value.takenOver?.why}` : ''}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    });
  }

  // issue 10: locks that never cleared (exit 3 on every retry)
  for (const [name, text] of [
    ['{}', '{}'],
    ['42', '42'],
    ['null', 'null'],
    ['a half-written record', '{"pid": 12'],
  ] as const) {
    it(`takes over a lock file holding ${name}, with the reason`, () => {
      const dir = rig.path(`bad-${name.replace(/\W/g, '')}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'lock.json'), text);
      const r = RunLock.acquire(dir, 'new owner');
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.match(r.value.takenOver?.why ?? '', /lock file is/);
      r.value.release();
    });
  }

  for (const pid of [1, 0, -1]) {
    it(`takes over a lock naming pid ${pid}, and never tells anyone to kill it`, () => {
      const dir = rig.path(`pid${pid}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'lock.json'), JSON.stringify(owner({ pid, host: hostname() })));
      const r = RunLock.acquire(dir, 'new owner');
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      r.value.release();
    });
  }

  it('takes over a lock naming a live unrelated process without a start time, and leaves that process alone', async () => {
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const dir = rig.path('bystander');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'lock.json'), JSON.stringify(owner({ pid: bystander.pid as number, host: hostname() })));
      const r = RunLock.acquire(dir, 'new owner');
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.match(r.value.takenOver?.why ?? '', /no process start time/);
      r.value.release();
      assert.equal(bystander.exitCode, null, 'the bystander still runs');
    } finally {
      bystander.kill();
    }
  });

  it('takes over a lock from another host whose heartbeat is not a time', () => {
    const dir = rig.path('hb-notatime');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'lock.json'), JSON.stringify(owner({ pid: 4242, host: 'other-host', heartbeat: 'yesterday-ish' })));
    const r = RunLock.acquire(dir, 'new owner');
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.match(r.value.takenOver?.why ?? '', /heartbeat/);
    r.value.release();
  });

  it('refuses a live owner with exit 3 and names flux-train unlock (never kill with pid <= 1)', () => {
    const dir = rig.path('held');
    const a = RunLock.acquire(dir, 'first');
    assert.ok(a.ok);
    const b = RunLock.acquire(dir, 'second');
    assert.equal(b.ok, false);
    if (!b.ok) {
      assert.equal(b.error.exitCode, 3);
      assert.match(b.error.message, /flux-train unlock --run-dir/);
      assert.doesNotMatch(b.error.message, /kill -?[01]\b/);
    }
    a.value.release();
    // a fresh lock from another host: held, and the fix names unlock rather than a local kill
    writeFileSync(join(dir, 'lock.json'), JSON.stringify(owner({ pid: 4242, host: 'other-host' })));
    const c = RunLock.acquire(dir, 'third');
    assert.equal(c.ok, false);
    if (!c.ok) {
      assert.match(c.error.message, /flux-train unlock/);
      assert.doesNotMatch(c.error.message, /kill/);
    }
  });

  // review of issue 10: judge-then-rename let two processes both take over one dead lock
  it('lets exactly one of many parallel processes take over a stale lock; the rest exit 3', async () => {
    const lockModule = new URL('../../src/state/lock.js', import.meta.url).href;
    const holder = `
      const { RunLock } = await import(${JSON.stringify(lockModule)});
      const [dir, at] = process.argv.slice(1);
      while (Date.now() < Number(at)) await new Promise((r) => setTimeout(r, 1));
      const r = RunLock.acquire(dir, 'holder ' + process.pid);
      if (!r.ok) { process.stdout.write(r.error.reason); process.exit(r.error.exitCode); }
      await new Promise((r) => setTimeout(r, 1500));
      r.value.release();
    `;
    for (let round = 0; round < 6; round++) {
      const dir = rig.path(`race-${round}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'lock.json'), JSON.stringify({ ...owner({ pid: 999_999, host: hostname() }), startTime: 1 }));
      const at = String(Date.now() + 1_000);
      const runs = await Promise.all(Array.from({ length: 6 }, () => execa(process.execPath, ['--input-type=module', '-e', holder, dir, at], { reject: false, all: true })));
      const codes = runs.map((r) => r.exitCode).sort();
      assert.deepEqual(codes, [0, 3, 3, 3, 3, 3], `round ${round}: ${runs.map((r) => `${r.exitCode}: ${r.all}`).join(' | ')}`);
      assert.equal(readdirSync(dir).filter((n) => n.startsWith('lock.json.stale-')).length, 1, `round ${round}: one takeover`);
    }
  });

  it('reads no owner out of a lock file that is not an owner record', () => {
    const dir = rig.path('readowner');
    mkdirSync(dir, { recursive: true });
    for (const text of ['null', '{}', '42', '{"pid": -1, "host": "h", "startedAt": "", "heartbeat": "", "command": ""}']) {
      writeFileSync(join(dir, 'lock.json'), text);
      assert.equal(readOwner(join(dir, 'lock.json')), undefined, text);
    }
  });
});

describe('flux-train unlock', () => {
  const cli = (args: string[]) => execa(process.execPath, [BIN, ...args], { reject: false, all: true });

  it('says so when there is no lock', async () => {
    const r = await cli(['unlock', '--run-dir', rig.path('u-free')]);
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /is not locked/);
  });

  it('shows the owner and refuses while it is alive on this host, unless --force', async () => {
    const dir = rig.path('u-held');
    const lock = RunLock.acquire(dir, 'flux-train round --n 3');
    assert.ok(lock.ok);
    const r = await cli(['unlock', '--run-dir', dir]);
    assert.equal(r.exitCode, 3, r.all);
    assert.match(r.stderr, new RegExp(`pid ${process.pid} on ${hostname()}.*flux-train round --n 3.*alive on this host`));
    assert.ok(existsSync(join(dir, 'lock.json')));
    const f = await cli(['unlock', '--run-dir', dir, '--force']);
    assert.equal(f.exitCode, 0, f.all);
    assert.match(f.stdout, /removed the lock of flux-train pid/);
    assert.equal(existsSync(join(dir, 'lock.json')), false);
    assert.ok(readdirSync(dir).some((n) => n.startsWith('lock.json.removed-')), 'the lock is kept aside, not deleted');
    lock.value.release();
  });

  it('removes a lock whose owner is gone without --force', async () => {
    const dir = rig.path('u-gone');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'lock.json'), '42');
    const r = await cli(['unlock', '--run-dir', dir]);
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /owner is gone/);
  });
});

function owner(o: { pid: number; host: string; heartbeat?: string }): Record<string, unknown> {
  const ts = new Date().toISOString();
  return { pid: o.pid, host: o.host, startedAt: ts, heartbeat: o.heartbeat ?? ts, command: 'flux-train round --n 3' };
}
