import { closeSync, existsSync, fsyncSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { emptyState, reduce, STATE_SCHEMA_VERSION, type RunState } from './state.js';
import { isTransition, type RunEvent } from '../run/events.js';
import { manifestDrift } from '../llamafactory/outputs.js';
import { RunDir, STATE_FILE, EVENTS_FILE } from '../util/run-layout.js';
import { redactDeep } from '../util/redact.js';
import { firstIssue, runEventSchema, runStateSchema, STAGE_KEY } from './schema.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FluxError } from '../util/errors.js';
import { ensureDir, openAppend } from './run-dir.js';
import { err, ok, type Result } from '../util/result.js';

export { STATE_FILE, EVENTS_FILE };

const repairFix = (runDir: string, what: string): string =>
  `run \`flux-train repair --run-dir ${runDir}\`: it rebuilds the state from the event log (${what}) and the output dirs, keeping the old file as ${STATE_FILE}.corrupt-<time>; finished stages stay finished where their outputs still match`;

/** Reads the state file through its schema; a corrupt or misshapen one is an error value that names the way out, never a crash. */
export function readState(runDir: string): Result<RunState | undefined, FluxError> {
  const path = join(runDir, STATE_FILE);
  if (!existsSync(path)) return ok(undefined);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return err(new FluxError('state-unreadable', `cannot read ${path}: ${(e as Error).message}`, 'check the permissions of the run dir', 'bad-input', { cause: e }));
  }
  const corrupt = (why: string, cause?: unknown) =>
    err(
      new FluxError(
        'state-corrupt',
        `the run state ${path} is corrupt or truncated, or has the wrong shape (${why}); nothing was run or changed`,
        repairFix(runDir, `${countLines(join(runDir, EVENTS_FILE))} events in ${EVENTS_FILE}`),
        'bad-input',
        cause === undefined ? {} : { cause },
      ),
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return corrupt((e as Error).message, e);
  }
  const version = typeof raw === 'object' && raw !== null ? (raw as { schema?: unknown }).schema : undefined;
  if (typeof version === 'number' && version > STATE_SCHEMA_VERSION) {
    return err(new FluxError('state-newer', `${path} was written by a newer flux-train (state schema ${version}, this one reads ${STATE_SCHEMA_VERSION})`, 'upgrade flux-train, or use a new --run-dir'));
  }
  const parsed = runStateSchema.safeParse(raw);
  if (!parsed.success) return corrupt(`not a flux-train state: ${firstIssue(parsed.error)}`);
  // zod drops a "__proto__" key silently; a stage key that is not r<N>/<id> is a wrong shape too
  const stages = (raw as { stages: object }).stages;
  const odd = Object.keys(stages).find((k) => !STAGE_KEY.test(k));
  if (odd !== undefined) return corrupt(`not a flux-train state: at stages: "${odd}" is not a stage key such as r1/proposer_sft`);
  return ok(parsed.data as RunState);
}

function countLines(path: string): number {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    return 0;
  }
}

export interface BadLine {
  line: number;
  why: string;
}

/** Parses events.jsonl through the event schema, skipping (and listing) a torn last line and any corrupt line. */
export function readEvents(runDir: string): { events: RunEvent[]; bad: BadLine[] } {
  const path = join(runDir, EVENTS_FILE);
  if (!existsSync(path)) return { events: [], bad: [] };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { events: [], bad: [{ line: 0, why: `cannot read ${path}: ${(e as Error).message}` }] };
  }
  const events: RunEvent[] = [];
  const bad: BadLine[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      bad.push({ line: i + 1, why: `not JSON (${(e as Error).message})` });
      return;
    }
    const r = runEventSchema.safeParse(raw);
    if (r.success) events.push(r.data as RunEvent);
    else bad.push({ line: i + 1, why: firstIssue(r.error) });
  });
  return { events, bad };
}

/** The highest attempt number that left files in logs/, so a new attempt never reuses an old attempt's files (its .exit above all). */
export function highestAttemptOnDisk(runDir: string, key: string): number {
  const layout = new RunDir(runDir);
  const dir = layout.logsDir;
  const prefix = layout.attemptPrefix(key);
  let max = 0;
  try {
    for (const f of readdirSync(dir)) {
      if (!f.startsWith(prefix)) continue;
      const m = /^([0-9]{1,9})\./.exec(f.slice(prefix.length));
      if (m) max = Math.max(max, Number(m[1]));
    }
  } catch {
    // no logs yet
  }
  return max;
}

/**
 * The number of the newest attempt, recorded or found on disk: new attempts continue after it, so a
 * lost state.json never makes a new attempt read an old attempt's files (an old .exit holding 0).
 */
export function lastAttemptNumber(state: RunState, runDir: string, key: string): number {
  return Math.max(0, ...(state.stages[key]?.attempts.map((x) => x.n) ?? []), highestAttemptOnDisk(runDir, key));
}

export interface RepairReport {
  events: number;
  badLines: BadLine[];
  keptDone: string[];
  /** finished stages that only the previous state.json knew of, their outputs still intact */
  keptFromState: string[];
  droppedDone: { key: string; why: string }[];
  movedCorrupt?: string;
}

export const outputDirOfKey =
  (runDir: string) =>
  (key: string): string =>
    new RunDir(runDir).outputDirOfKey(key);

/**
 * The state as the event log tells it, with "done" kept only where the outputs still match their
 * manifest. A finished stage that a previous (readable) state knew of and the events lost stays
 * finished when its outputs prove it: a repair never leaves fewer finished stages than the disk shows.
 */
export function rebuildState(runDir: string, outputDirOf: (key: string) => string, previous?: RunState): { state: RunState; report: RepairReport } {
  const { events, bad } = readEvents(runDir);
  const state = emptyState();
  let applied = 0;
  for (const e of events) {
    try {
      reduce(state, e);
      applied++;
    } catch (x) {
      bad.push({ line: 0, why: `${e.type} for ${'key' in e ? e.key : 'the run'} could not be applied (${(x as Error).message})` });
    }
  }
  const report: RepairReport = { events: applied, badLines: bad, keptDone: [], keptFromState: [], droppedDone: [] };
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
  if (previous) {
    for (const [k, st] of Object.entries(previous.stages)) {
      if (!st.done || state.stages[k]?.done) continue;
      if (manifestDrift(outputDirOf(k), st.done.manifest).length > 0) continue;
      state.stages[k] = { ...st, status: 'done' };
      report.keptFromState.push(k);
      report.droppedDone = report.droppedDone.filter((d) => d.key !== k);
    }
    for (const f of ['runId', 'pipeline', 'pipelineName', 'rounds', 'backend', 'image', 'argv', 'createdAt'] as const) {
      if (state[f] === undefined && previous[f] !== undefined) (state as unknown as Record<string, unknown>)[f] = previous[f];
    }
    if (state.sessions.length === 0) state.sessions = previous.sessions;
  }
  return { state, report };
}

/** Whether a run dir holds a run at all (a state file or an event log with at least one line). */
export function hasRun(runDir: string): boolean {
  return existsSync(join(runDir, STATE_FILE)) || countLines(join(runDir, EVENTS_FILE)) > 0;
}

/** Rebuilds state.json from events.jsonl (and a readable old state), keeping the old file aside. */
export function repairState(runDir: string, outputDirOf: (key: string) => string): RepairReport {
  const prev = readState(runDir);
  const { state, report } = rebuildState(runDir, outputDirOf, prev.ok ? prev.value : undefined);
  const path = join(runDir, STATE_FILE);
  if (existsSync(path)) {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(path, aside);
    report.movedCorrupt = aside;
  }
  writeFileAtomic(path, `${JSON.stringify(redactDeep(state), null, 2)}\n`);
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
    ensureDir(runDir);
    this.#state = initial ?? emptyState();
    this.#eventsFd = openAppend(join(runDir, EVENTS_FILE), 'the event log');
  }

  get state(): RunState {
    return this.#state;
  }

  record(event: RunEvent): void {
    const e = redactDeep(event);
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
    writeFileAtomic(join(this.runDir, STATE_FILE), `${JSON.stringify(redactDeep(this.#state), null, 2)}\n`);
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
