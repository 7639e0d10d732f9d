import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.js';
import { descendantsOf, leadsGroup, sameProcessAlive, type ProcId } from '../util/proc.js';
import type { LocalProcess } from '../run/events.js';

/**
 * The processes a local job spawned, recorded in a file beside its pid record (logs/<..>.tree.json).
 * Signalling the wrapper's process group misses a worker that started its own session (torch
 * elastic does so), and once its parent is gone nothing links it to the job any more: so the tree
 * is walked while the job runs and before any signal, and kept on disk, where the next CLI finds
 * it. Every pid is kept with its start time and re-checked before it is signalled, so a reused
 * pid (a bystander) is never hit.
 */
export class JobTree {
  readonly #known = new Map<number, number>();

  /** file: where the tree is recorded (undefined: memory only) */
  constructor(
    readonly root: LocalProcess,
    readonly file: string | undefined,
  ) {
    for (const p of file !== undefined ? readTree(file) : []) this.#known.set(p.pid, p.startTime);
  }

  /** Adds the descendants alive now (found only while the root lives) and records them. */
  refresh(): void {
    if (!sameProcessAlive(this.root.pid, this.root.startTime)) return;
    let added = false;
    for (const p of descendantsOf(this.root.pid)) {
      if (this.#known.get(p.pid) === p.startTime) continue;
      this.#known.set(p.pid, p.startTime);
      added = true;
    }
    if (added && this.file !== undefined) writeFileAtomic(this.file, `${JSON.stringify([...this.#known].map(([pid, startTime]) => ({ pid, startTime })))}\n`);
  }

  /** the recorded descendants still alive (pid and start time both match) */
  alive(): ProcId[] {
    return [...this.#known].filter(([pid, st]) => sameProcessAlive(pid, st)).map(([pid, startTime]) => ({ pid, startTime }));
  }

  /** Signals every live descendant, and the group of each that leads its own (a new session or group). */
  signal(sig: NodeJS.Signals): void {
    for (const p of this.alive()) {
      for (const target of leadsGroup(p.pid) ? [-p.pid, p.pid] : [p.pid]) {
        try {
          process.kill(target, sig);
        } catch {
          // gone meanwhile
        }
      }
    }
  }
}

/** A recorded tree; anything unreadable or odd counts as no record (nothing is ever signalled on its word). */
function readTree(file: string): ProcId[] {
  if (!existsSync(file)) return [];
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(raw)) return [];
    return raw.filter((x): x is ProcId => typeof x === 'object' && x !== null && Number.isInteger(x.pid) && x.pid > 1 && typeof x.startTime === 'number');
  } catch {
    return [];
  }
}
