import { readFileSync } from 'node:fs';

/** Whether a process with this pid exists on this host (EPERM still means it exists). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A process's start time in clock ticks since boot (/proc/PID/stat field 22). With the pid it
 * identifies one process for good: a pid reused by a later process has a different start time.
 */
export function procStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: split after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A zombie has exited; it only waits to be reaped (which an init that does not reap never does). */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Alive and the same process (not a reused pid, not a zombie). */
export function sameProcessAlive(pid: number, startTime: number | undefined): boolean {
  if (!pidAlive(pid) || isZombie(pid)) return false;
  if (startTime === undefined) return true;
  const now = procStartTime(pid);
  if (now === undefined) return true;
  return now === startTime;
}
