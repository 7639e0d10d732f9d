import { readdirSync, readFileSync } from 'node:fs';

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

/** One process for good: its pid and its start time (a reused pid has another). */
export interface ProcId {
  pid: number;
  startTime: number;
}

/** pid, parent pid, process group and start time of every process, read from /proc/<pid>/stat. */
function processTable(): { pid: number; ppid: number; pgrp: number; startTime: number }[] {
  let names: string[];
  try {
    names = readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n));
  } catch {
    return [];
  }
  const out: { pid: number; ppid: number; pgrp: number; startTime: number }[] = [];
  for (const n of names) {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(n), ppid: Number(rest[1]), pgrp: Number(rest[2]), startTime: Number(rest[19]) });
    } catch {
      // it exited while the table was read
    }
  }
  return out;
}

/**
 * Every descendant of a process, through the parent links in /proc (as scripts/gpu-check.sh's
 * tree_of does). A child that started its own session (torch elastic starts its workers with
 * start_new_session=True) is outside the parent's process group, so signalling the group misses
 * it: only this walk finds it, and only while its parent is still alive to be its parent.
 */
export function descendantsOf(root: number): ProcId[] {
  const table = processTable();
  const children = new Map<number, typeof table>();
  for (const p of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: ProcId[] = [];
  const queue = [root];
  const seen = new Set<number>([root]);
  while (queue.length > 0) {
    for (const c of children.get(queue.shift() as number) ?? []) {
      if (seen.has(c.pid) || !Number.isFinite(c.startTime)) continue;
      seen.add(c.pid);
      out.push({ pid: c.pid, startTime: c.startTime });
      queue.push(c.pid);
    }
  }
  return out;
}

/** Whether a process leads its own process group (it called setsid or setpgid), so the group can be signalled as a whole. */
export function leadsGroup(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pid;
  } catch {
    return false;
  }
}
