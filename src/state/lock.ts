import { randomBytes } from 'node:crypto';
import { openSync, readFileSync, statSync, renameSync, unlinkSync, writeSync, closeSync, fsyncSync, linkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FluxError } from '../util/errors.js';
import { pidAlive, procStartTime, sameProcessAlive } from '../util/proc.js';
import { unreachable } from '../util/unreachable.js';
import { ensureDir } from './run-dir.js';
import { firstIssue, lockOwnerSchema } from './schema.js';
import { err, ok, type Result } from '../util/result.js';

import { LOCK_FILE } from '../util/run-layout.js';
export { LOCK_FILE };

export interface LockOwner {
  pid: number;
  host: string;
  startTime?: number;
  startedAt: string;
  heartbeat: string;
  command: string;
  current?: string;
}

export interface LockOptions {
  /** a lock from another host whose heartbeat has not changed for this long (this host's clock) is stale */
  staleMs?: number;
  heartbeatMs?: number;
}

/**
 * One orchestrator per run dir. The lock records who holds it and beats every few seconds; a lock
 * whose owner is provably gone (pid dead on this host, or no heartbeat for staleMs) is taken over
 * automatically, so nobody ever deletes lock files by hand.
 */
export class RunLock {
  #timer: NodeJS.Timeout | undefined;
  #owner: LockOwner;

  private constructor(
    readonly path: string,
    owner: LockOwner,
    readonly takenOver: LockTakeover | undefined,
    heartbeatMs: number,
  ) {
    this.#owner = owner;
    this.#timer = setInterval(() => this.#beat(), heartbeatMs);
    this.#timer.unref();
  }

  static acquire(runDir: string, command: string, opts: LockOptions = {}): Result<RunLock, FluxError> {
    const path = join(runDir, LOCK_FILE);
    try {
      ensureDir(runDir);
    } catch (e) {
      return err(e as FluxError);
    }
    const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
    const ts = new Date().toISOString();
    const st = procStartTime(process.pid);
    const owner: LockOwner = { pid: process.pid, host: hostname(), ...(st !== undefined ? { startTime: st } : {}), startedAt: ts, heartbeat: ts, command };
    const heartbeatMs = opts.heartbeatMs ?? 5_000;
    for (let tries = 0; tries < 50; tries++) {
      const created = createLock(path, owner);
      if (created.kind === 'created') return ok(new RunLock(path, owner, undefined, heartbeatMs));
      if (created.kind === 'failed') return err(created.error);
      const verdict = judgeLock(path, staleMs);
      if (verdict.kind === 'free') continue;
      if (verdict.kind === 'being-written') {
        sleepMs(50);
        continue;
      }
      if (verdict.kind === 'held') return err(lockedError(runDir, verdict.owner, verdict.why));
      const t = takeOver(path, staleMs, () => createLock(path, owner));
      if (t.kind === 'taken') return ok(new RunLock(path, owner, { why: t.why, ...(t.owner ? { owner: t.owner } : {}) }, heartbeatMs));
      if (t.kind === 'failed') return err(t.error);
      if (t.kind === 'busy') sleepMs(20 + Math.random() * 30);
      // 'changed' and 'busy' loop and look again: the next judgement sees the new owner
    }
    return err(new FluxError('locked', `could not take the lock ${path} after several tries`, 'another flux-train is starting on this run dir at the same moment; try again', 'locked'));
  }

  update(current: string | undefined): void {
    this.#owner = { ...this.#owner, ...(current !== undefined ? { current } : {}) };
    this.#beat();
  }

  #beat(): void {
    this.#owner.heartbeat = new Date().toISOString();
    try {
      const onDisk = readOwner(this.path);
      if (onDisk && (onDisk.pid !== this.#owner.pid || onDisk.host !== this.#owner.host)) return; // not ours any more
      writeFileAtomic(this.path, `${JSON.stringify(this.#owner, null, 2)}\n`);
    } catch {
      // a missed heartbeat is harmless; the next one retries
    }
  }

  release(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const onDisk = readOwner(this.path);
    if (onDisk && onDisk.pid === this.#owner.pid && onDisk.host === this.#owner.host) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}

export const DEFAULT_STALE_MS = 60_000;

/** A takeover mutex older than this was left by a process that died inside its few-millisecond takeover. */
const TAKEOVER_STALE_MS = 10_000;

type Created = { kind: 'created' } | { kind: 'exists' } | { kind: 'failed'; error: FluxError };

/** Creates the lock file exclusively ('wx'): only one of any number of processes gets 'created'. */
function createLock(path: string, owner: LockOwner): Created {
  try {
    const fd = openSync(path, 'wx', 0o644);
    writeSync(fd, `${JSON.stringify(owner, null, 2)}\n`);
    fsyncSync(fd);
    closeSync(fd);
    return { kind: 'created' };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { kind: 'exists' };
    const fix = code === 'EROFS' ? 'the run dir is on a read-only file system: pass a --run-dir on a writable disk' : 'check that the run dir is writable, or pass another --run-dir';
    return { kind: 'failed', error: new FluxError('lock-io', `cannot create the lock ${path}: ${(e as Error).message}`, fix, 'bad-input', { cause: e }) };
  }
}

type TakeoverResult = { kind: 'taken'; why: string; owner?: LockOwner } | { kind: 'changed' } | { kind: 'busy' } | { kind: 'failed'; error: FluxError };

/**
 * Moves a lock judged gone aside. Judging and renaming is check-then-act, so two processes that
 * both judged the same dead owner could each rename (the second renaming the first one's fresh
 * lock). Takeovers are therefore serialised by `lock.json.takeover`, created exclusively ('wx'):
 * its holder judges again, renames only a lock still gone (to a name unique to this process) and
 * creates its own lock before letting go.
 */
function takeOver(path: string, staleMs: number, create: () => Created): TakeoverResult {
  const mutex = `${path}.takeover`;
  let fd: number;
  try {
    fd = openSync(mutex, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') clearStaleMutex(mutex);
    return { kind: 'busy' };
  }
  try {
    writeSync(fd, `${process.pid}@${hostname()}\n`);
    closeSync(fd);
    const again = judgeLock(path, staleMs);
    if (again.kind !== 'gone') return { kind: 'changed' };
    try {
      renameSync(path, `${path}.stale-${Date.now()}-${process.pid}-${randomBytes(3).toString('hex')}`);
    } catch {
      return { kind: 'changed' };
    }
    // created under the mutex, so the process that moved the dead lock is the one that holds the new one
    const created = create();
    if (created.kind === 'failed') return created;
    if (created.kind === 'exists') return { kind: 'changed' };
    return { kind: 'taken', why: again.why, ...(again.owner ? { owner: again.owner } : {}) };
  } finally {
    try {
      unlinkSync(mutex);
    } catch {
      // removed as stale by another process; harmless
    }
  }
}

/**
 * Removes a takeover mutex its holder left behind when it died. The mutex is renamed first and the
 * moved file checked to be the very one judged old (same inode), so a fresh mutex created in
 * between is put back rather than lost.
 */
function clearStaleMutex(mutex: string): void {
  let st;
  try {
    st = statSync(mutex);
  } catch {
    return;
  }
  if (Date.now() - st.mtimeMs <= TAKEOVER_STALE_MS) return;
  const aside = `${mutex}.stale-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    renameSync(mutex, aside);
  } catch {
    return;
  }
  try {
    if (statSync(aside).ino !== st.ino) linkSync(aside, mutex);
  } catch {
    // a third process made a new mutex meanwhile; it stays the holder
  }
  try {
    unlinkSync(aside);
  } catch {
    // already gone
  }
}

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));
/** A short synchronous pause between lock tries (acquire is synchronous by design). */
function sleepMs(ms: number): void {
  Atomics.wait(sleepBuffer, 0, 0, ms);
}

/** A lock that was taken over: why its owner counted as gone, and who it was (when the file said). */
export interface LockTakeover {
  why: string;
  owner?: LockOwner;
}

/** The lock owner, when the file holds a valid one (schema-checked: `null`, `{}`, `42` or pid <= 1 are not owners). */
export function readOwner(path: string): LockOwner | undefined {
  const r = readLockFile(path);
  return r.kind === 'owner' ? r.owner : undefined;
}

type LockFile = { kind: 'missing' } | { kind: 'empty'; ageMs: number } | { kind: 'invalid'; why: string } | { kind: 'owner'; owner: LockOwner };

function readLockFile(path: string): LockFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', why: `unreadable (${(e as Error).message})` };
  }
  if (text.trim() === '') return { kind: 'empty', ageMs: fileAgeMs(path) };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'invalid', why: 'not JSON' };
  }
  const parsed = lockOwnerSchema.safeParse(raw);
  if (!parsed.success) return { kind: 'invalid', why: `not a lock owner record: ${firstIssue(parsed.error)}` };
  const o = parsed.data;
  return { kind: 'owner', owner: { pid: o.pid, host: o.host, ...(o.startTime !== undefined ? { startTime: o.startTime } : {}), startedAt: o.startedAt, heartbeat: o.heartbeat, command: o.command, ...(o.current !== undefined ? { current: o.current } : {}) } };
}

export type LockVerdict =
  | { kind: 'free' }
  /** an empty file younger than a few seconds: another flux-train is creating it right now */
  | { kind: 'being-written' }
  | { kind: 'gone'; why: string; owner?: LockOwner }
  | { kind: 'held'; owner: LockOwner; why: string; aliveHere: boolean };

/**
 * The one lock rule (README "Run dir lock"): a lock is taken over when it is unreadable or not an
 * owner record, when its owner is provably dead (this host: no process with its pid and start
 * time; a record without a start time proves nothing and is not trusted), or (another host) when
 * its heartbeat is not a time or has not changed for the timeout as timed by this host's clock.
 * Otherwise it is held.
 */
export function judgeLock(path: string, staleMs = DEFAULT_STALE_MS): LockVerdict {
  const f = readLockFile(path);
  switch (f.kind) {
    case 'missing':
      return { kind: 'free' };
    case 'empty':
      return f.ageMs > 5_000 ? { kind: 'gone', why: 'the lock file is empty (a crash while it was created)' } : { kind: 'being-written' };
    case 'invalid':
      return { kind: 'gone', why: `the lock file is ${f.why}` };
    case 'owner':
      break;
    default:
      unreachable(f, 'lock file');
  }
  const o = f.owner;
  const beat = Date.parse(o.heartbeat);
  if (o.host === hostname()) {
    const age = Date.now() - beat;
    const canCheck = procStartTime(process.pid) !== undefined;
    if (canCheck && o.startTime === undefined) return { kind: 'gone', why: `its record of pid ${o.pid} has no process start time, so it cannot be told from an unrelated process`, owner: o };
    if (canCheck ? !sameProcessAlive(o.pid, o.startTime) : !pidAlive(o.pid)) return { kind: 'gone', why: `its owner, pid ${o.pid} on this host, is no longer running`, owner: o };
    if (!canCheck && !(age <= staleMs)) return { kind: 'gone', why: `its heartbeat is stale (${o.heartbeat})`, owner: o };
    return { kind: 'held', owner: o, why: `heartbeat ${Math.round(age / 1000)}s ago`, aliveHere: true };
  }
  if (!Number.isFinite(beat)) return { kind: 'gone', why: `its heartbeat "${o.heartbeat}" is not a time`, owner: o };
  // Another host's clock may be skewed by minutes, so its heartbeat time is never compared with ours:
  // what counts is whether the heartbeat changes, timed by this host's clock across observations.
  const unchangedMs = observeHeartbeat(`${path}${SEEN_SUFFIX}`, o);
  const secs = (ms: number): number => Math.round(ms / 1000);
  if (unchangedMs > staleMs) return { kind: 'gone', why: `no new heartbeat from ${o.host} for ${secs(unchangedMs)}s by this host's clock (timeout ${secs(staleMs)}s)`, owner: o };
  return {
    kind: 'held',
    owner: o,
    why: unchangedMs === 0 ? `heartbeat ${o.heartbeat} by ${o.host}'s clock` : `heartbeat unchanged for ${secs(unchangedMs)}s of the ${secs(staleMs)}s after which it counts as gone`,
    aliveHere: false,
  };
}

/** Where the last heartbeat seen from another host's owner is noted, with when this host first saw it. */
export const SEEN_SUFFIX = '.seen';

/**
 * How long (this host's clock) the remote owner's heartbeat has stayed the value it has now; 0 when
 * it is new to us. Noted in `lock.json.seen`, so that a later flux-train (a retry after the timeout)
 * can tell a dead remote owner from a live one whatever the two clocks say.
 */
function observeHeartbeat(seenPath: string, o: LockOwner): number {
  const now = Date.now();
  try {
    const seen = JSON.parse(readFileSync(seenPath, 'utf8')) as Record<string, unknown>;
    if (seen['host'] === o.host && seen['pid'] === o.pid && seen['startedAt'] === o.startedAt && seen['heartbeat'] === o.heartbeat && typeof seen['firstSeenMs'] === 'number' && seen['firstSeenMs'] <= now) {
      return now - seen['firstSeenMs'];
    }
  } catch {
    // not noted yet, or unreadable: note it afresh
  }
  try {
    writeFileAtomic(seenPath, `${JSON.stringify({ host: o.host, pid: o.pid, startedAt: o.startedAt, heartbeat: o.heartbeat, firstSeenMs: now })}\n`);
  } catch {
    // a read-only run dir: the owner stays held, which is the safe side
  }
  return 0;
}

function lockedError(runDir: string, o: LockOwner, why: string): FluxError {
  const here = o.host === hostname();
  const stop = here
    ? `stop it (Ctrl-C in its terminal, or kill ${o.pid})`
    : `stop it on ${o.host}; if it is gone, its heartbeat stops changing and the same command run again over a minute from now takes the lock over`;
  return new FluxError(
    'locked',
    `run dir ${runDir} is in use by flux-train pid ${o.pid} on ${o.host} (started ${o.startedAt}, \`${o.command}\`${o.current ? `, now running ${o.current}` : ''}, ${why})`,
    `wait for it to finish or ${stop}; \`flux-train status --run-dir ${runDir}\` shows its progress. If you know it is gone, \`flux-train unlock --run-dir ${runDir}\` removes the lock (\`--force\` when its owner still looks alive)`,
    'locked',
  );
}

function fileAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
