import { mkdirSync, openSync, readFileSync, statSync, renameSync, unlinkSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FluxError } from '../util/errors.js';
import { procStartTime, sameProcessAlive } from '../util/proc.js';
import { err, ok, type Result } from '../util/result.js';

export const LOCK_FILE = 'lock.json';

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
  /** a lock whose heartbeat is older than this is stale even when its owner is on another host */
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
    readonly takenOver: LockOwner | undefined,
    heartbeatMs: number,
  ) {
    this.#owner = owner;
    this.#timer = setInterval(() => this.#beat(), heartbeatMs);
    this.#timer.unref();
  }

  static acquire(runDir: string, command: string, opts: LockOptions = {}): Result<RunLock, FluxError> {
    const path = join(runDir, LOCK_FILE);
    mkdirSync(runDir, { recursive: true });
    const staleMs = opts.staleMs ?? 60_000;
    const ts = new Date().toISOString();
    const st = procStartTime(process.pid);
    const owner: LockOwner = { pid: process.pid, host: hostname(), ...(st !== undefined ? { startTime: st } : {}), startedAt: ts, heartbeat: ts, command };
    let takenOver: LockOwner | undefined;
    for (let tries = 0; tries < 5; tries++) {
      try {
        const fd = openSync(path, 'wx', 0o644);
        writeSync(fd, `${JSON.stringify(owner, null, 2)}\n`);
        fsyncSync(fd);
        closeSync(fd);
        return ok(new RunLock(path, owner, takenOver, opts.heartbeatMs ?? 5_000));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          return err(new FluxError('lock-io', `cannot create the lock ${path}: ${(e as Error).message}`, 'check that the run dir is writable', 2, { cause: e }));
        }
      }
      const prev = readOwner(path);
      if (prev === undefined) {
        // removed between our calls, or left half-written by a crash right after creating it
        if (fileAgeMs(path) > 5_000) {
          try {
            renameSync(path, `${path}.stale-${Date.now()}`);
          } catch {
            // someone else moved it
          }
        }
        continue;
      }
      const stale = isStale(prev, staleMs);
      if (!stale) {
        const age = Math.round((Date.now() - Date.parse(prev.heartbeat)) / 1000);
        return err(
          new FluxError(
            'locked',
            `run dir ${runDir} is in use by flux-train pid ${prev.pid} on ${prev.host} (started ${prev.startedAt}, \`${prev.command}\`${prev.current ? `, now running ${prev.current}` : ''}, heartbeat ${age}s ago)`,
            `wait for it to finish or stop it (Ctrl-C in its terminal, or kill ${prev.pid}); \`flux-train status --run-dir ${runDir}\` shows its progress. A lock whose owner died is taken over automatically`,
            3,
          ),
        );
      }
      try {
        renameSync(path, `${path}.stale-${Date.now()}`);
        takenOver = prev;
      } catch {
        // another process took it over first; loop and look again
      }
    }
    return err(new FluxError('locked', `could not take the lock ${path} after several tries`, 'another flux-train is starting on this run dir at the same moment; try again'));
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

export function readOwner(path: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function isStale(o: LockOwner, staleMs: number): boolean {
  if (o.host === hostname()) return !sameProcessAlive(o.pid, o.startTime);
  return Date.now() - Date.parse(o.heartbeat) > staleMs;
}

function fileAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
