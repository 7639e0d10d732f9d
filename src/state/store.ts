import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { emptyState, reduce, STATE_SCHEMA_VERSION, type RunState } from './state.js';
import { isTransition, type RunEvent } from '../run/events.js';
import { manifestDrift } from '../llamafactory/outputs.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FluxError } from '../util/errors.js';
import { err, ok, type Result } from '../util/result.js';

export const STATE_FILE = 'state.json';
export const EVENTS_FILE = 'events.jsonl';

/** Reads the state file; a corrupt one is an error value that names the way out, never a crash. */
export function readState(runDir: string): Result<RunState | undefined, FluxError> {
  const path = join(runDir, STATE_FILE);
  if (!existsSync(path)) return ok(undefined);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return err(new FluxError('state-unreadable', `cannot read ${path}: ${(e as Error).message}`, 'check the permissions of the run dir', 2, { cause: e }));
  }
  try {
    const s = JSON.parse(text) as RunState;
    if (typeof s !== 'object' || s === null || typeof s.stages !== 'object') throw new Error('not a flux-train state object');
    if (s.schema > STATE_SCHEMA_VERSION) {
      return err(new FluxError('state-newer', `${path} was written by a newer flux-train (state schema ${s.schema}, this one reads ${STATE_SCHEMA_VERSION})`, 'upgrade flux-train, or use a new --run-dir'));
    }
    s.sessions ??= [];
    return ok(s);
  } catch (e) {
    const events = countLines(join(runDir, EVENTS_FILE));
    return err(
      new FluxError(
        'state-corrupt',
        `the run state ${path} is corrupt or truncated (${(e as Error).message}); nothing was run or changed`,
        `run \`flux-train repair --run-dir ${runDir}\`: it rebuilds the state from the event log (${events} events in ${EVENTS_FILE}) and the output dirs, keeping the corrupt file as ${STATE_FILE}.corrupt-<time>; finished stages stay finished only where their outputs still match`,
        2,
        { cause: e },
      ),
    );
  }
}

function countLines(path: string): number {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    return 0;
  }
}

/** Parses events.jsonl, skipping a torn last line (a crash mid-append) and any garbage line. */
export function readEvents(runDir: string): { events: RunEvent[]; bad: number } {
  const path = join(runDir, EVENTS_FILE);
  if (!existsSync(path)) return { events: [], bad: 0 };
  const events: RunEvent[] = [];
  let bad = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const e = JSON.parse(line) as RunEvent;
      if (typeof e.type === 'string') events.push(e);
      else bad++;
    } catch {
      bad++;
    }
  }
  return { events, bad };
}

export interface RepairReport {
  events: number;
  badLines: number;
  keptDone: string[];
  droppedDone: { key: string; why: string }[];
  movedCorrupt?: string;
}

/** Rebuilds state.json from events.jsonl, then keeps "done" only where the outputs still match. */
export function repairState(runDir: string, outputDirOf: (key: string) => string): RepairReport {
  const { events, bad } = readEvents(runDir);
  const state = events.reduce(reduce, emptyState());
  const report: RepairReport = { events: events.length, badLines: bad, keptDone: [], droppedDone: [] };
  for (const st of Object.values(state.stages)) {
    if (st.status === 'running') st.status = 'interrupted';
    if (!st.done) continue;
    const drift = manifestDrift(outputDirOf(st.key), st.done.manifest);
    if (drift.length === 0) report.keptDone.push(st.key);
    else {
      report.droppedDone.push({ key: st.key, why: drift.join('; ') });
      delete st.done;
      st.status = 'failed';
    }
  }
  const path = join(runDir, STATE_FILE);
  if (existsSync(path)) {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(path, aside);
    report.movedCorrupt = aside;
  }
  writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`);
  return report;
}

/**
 * The live state of one run dir: every event is folded into the state, appended to the event log,
 * and transitions are made durable (fsync) before the next action happens.
 */
export class RunStore {
  #state: RunState;
  #lastSnapshot = 0;
  #lastProgressPersist = new Map<string, number>();
  #eventsFd: number;

  constructor(
    readonly runDir: string,
    initial: RunState | undefined,
    readonly progressPersistMs = 30_000,
  ) {
    mkdirSync(runDir, { recursive: true });
    this.#state = initial ?? emptyState();
    this.#eventsFd = openSync(join(runDir, EVENTS_FILE), 'a');
  }

  get state(): RunState {
    return this.#state;
  }

  record(e: RunEvent): void {
    reduce(this.#state, e);
    const transition = isTransition(e);
    let persist = transition;
    if (e.type === 'stage-progress') {
      const last = this.#lastProgressPersist.get(e.key) ?? 0;
      if (Date.now() - last >= this.progressPersistMs) {
        persist = true;
        this.#lastProgressPersist.set(e.key, Date.now());
      }
    }
    if (persist) {
      writeSync(this.#eventsFd, `${JSON.stringify(e)}\n`);
      if (transition) fsyncSync(this.#eventsFd);
    }
    if (transition || Date.now() - this.#lastSnapshot > 5_000) this.snapshot();
  }

  snapshot(): void {
    this.#lastSnapshot = Date.now();
    writeFileAtomic(join(this.runDir, STATE_FILE), `${JSON.stringify(this.#state, null, 2)}\n`);
  }

  close(): void {
    this.snapshot();
    try {
      closeSync(this.#eventsFd);
    } catch {
      // already closed
    }
  }
}
