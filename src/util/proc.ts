import { readFileSync } from 'node:fs';

/** Whether a process with this pid exists on this host (EPERM still means it exists). */
export function pidAlive(pid: number): boolean {
  // kill(0|-1, 0) asks about a process group or every process, not one process
  if (!Number.isInteger(pid) || pid <= 0) return false;
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

/**
 * Alive and provably the same process: pid and start time both match flux-train's own record (not
 * a reused pid, not a zombie). A record without a start time proves nothing and is never trusted,
 * so nothing is ever signalled on its word; pid <= 1 is never one of ours.
 */
export function sameProcessAlive(pid: number, startTime: number | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || startTime === undefined) return false;
  if (!pidAlive(pid) || isZombie(pid)) return false;
  return procStartTime(pid) === startTime;
}
