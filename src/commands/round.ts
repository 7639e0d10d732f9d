import { resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Backend, LiveJob } from '../backends/backend.js';
import { createBackend } from '../backends/select.js';
import { formatDiagnostic, type Diagnostic } from '../pipeline/diagnostics.js';
import type { Pipeline } from '../pipeline/load.js';
import type { Plan } from '../pipeline/plan-types.js';
import type { GpuSpec } from '../pipeline/schema.js';
import { decideActions, predictBlocked, stagesToRun, type PlannedAction, type Selection } from '../state/actions.js';
import { printPlan } from '../ui/plan-view.js';
import { RunSession } from '../session/session.js';
import { fingerprintPlan, type Fingerprint } from '../state/fingerprint.js';
import { assertInsideRunDir, checkRunDirPath, runDirOption } from '../state/run-dir.js';
import type { RunState } from '../state/state.js';
import { hasRun, outputDirOfKey, readState, rebuildState } from '../state/store.js';
import { redact, useSecrets } from '../util/redact.js';
import { now, type RunEvent, type StageOutcome } from '../run/events.js';
import { Scheduler, type RunOutcome } from '../run/scheduler.js';
import { FluxError, isFluxError } from '../util/errors.js';
import { RunDir } from '../util/run-layout.js';
import { EXIT, defaultRunDir, loadOrThrow, parseBackend, parseRounds, pipelinePath, planOrThrow, viewFor } from './context.js';

export interface RoundOptions {
  n?: number;
  pipeline?: string;
  runDir?: string;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  backend?: string;
  image?: string;
  gpus?: GpuSpec;
  user?: string;
  detach?: boolean;
  from?: string;
  only?: string[];
  restartStage?: string[];
  maxAttempts?: number;
  backoff?: number;
  grace?: number;
  hashData?: boolean;
  skipDiskCheck?: boolean;
  localEnv?: string;
  hfCache?: string;
  pollMs?: number;
  maxParallel?: number;
  keepGoing?: boolean;
}

function invokingUser(): string | undefined {
  if (typeof process.getuid !== 'function' || typeof process.getgid !== 'function') return undefined;
  return `${process.getuid()}:${process.getgid()}`;
}

/** Everything decided before a backend is asked: the plan, the state found, the fingerprints, the selection. */
interface Prepared {
  file: string;
  p: Pipeline;
  rounds: number;
  plan: Plan;
  warnings: Diagnostic[];
  state: RunState | undefined;
  recovered: { state: RunState; note: string } | undefined;
  runId: string;
  fps: Map<string, Fingerprint>;
  selection: Selection;
}

function prepare(o: RoundOptions): Prepared {
  if (o.runDir !== undefined) runDirOption(o.runDir, '');
  const file = pipelinePath(o.pipeline);
  const p = loadOrThrow(file);
  const rounds = parseRounds(o.n === undefined ? undefined : String(o.n));
  const backendName = parseBackend(o.backend) ?? p.spec.backend;
  const runDir = o.runDir !== undefined ? runDirOption(o.runDir, '') : defaultRunDir(p);
  checkRunDirPath(runDir);
  const gpus = o.gpus;
  const { plan, warnings } = planOrThrow(p, {
    rounds,
    runDir,
    backend: backendName,
    view: viewFor(backendName, o.hfCache),
    dataProblems: o.dryRun ? 'warning' : 'error',
    ...(gpus !== undefined ? { gpus } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
  });
  useSecrets(p.spec.docker.pass_env, plan.stages.map((s) => s.env));
  for (const w of warnings) process.stderr.write(`${redact(formatDiagnostic(w))}\n`);
  // the local backend runs commands on this host: an image the pipeline names would be silently unused
  if (plan.backend === 'local') {
    for (const st of p.spec.stages) {
      if (st.image !== undefined) process.stderr.write(`warning: stage ${st.id}: image ${st.image} is not used with the local backend; ${st.kind === 'command' ? `its command runs on this host (the program is looked up in the --local-env environment's bin/ first, then on PATH)` : 'it trains with the llamafactory-cli of --local-env'}\n`);
    }
  }
  // every output dir must stay inside the run dir, symlinks resolved, before anything reads or moves it
  for (const s of plan.stages) assertInsideRunDir(plan.runDir, s.outputDir, `the output dir of ${s.key}`);
  const stateRes = readState(plan.runDir);
  if (!stateRes.ok) throw stateRes.error;
  const recovered = stateRes.value === undefined ? recoverFromEvents(plan) : undefined;
  if (recovered && o.dryRun) process.stderr.write(`note: ${recovered.note}\n`);
  const state = stateRes.value ?? recovered?.state;
  const fps = fingerprintPlan(plan, { hashData: o.hashData ?? false, recorded: (k) => state?.stages[k]?.done?.fields });
  const selection: Selection = { restart: o.restartStage ?? [], only: o.only ?? [], ...(o.from !== undefined ? { from: o.from } : {}) };
  checkSelection(plan, selection);
  return { file, p, rounds, plan, warnings, state, recovered, runId: state?.runId ?? randomUUID(), fps, selection };
}

function checkSelection(plan: Plan, selection: Selection): void {
  for (const sel of [...selection.restart, ...selection.only, ...(selection.from ? [selection.from] : [])]) {
    if (!plan.stages.some((s) => s.id === sel || s.key === sel)) {
      throw new FluxError('usage', `no stage instance matches "${sel}"`, `use a stage id (${[...new Set(plan.stages.map((s) => s.id))].join(', ')}) or a key such as ${plan.stages[0]?.key}`, 'bad-input');
    }
  }
}

/** Backend warnings wait only until the session opens; from then on they are events like any other. */
class WarningRelay {
  readonly early: string[] = [];
  #to: ((message: string) => void) | undefined;
  warn(message: string): void {
    if (this.#to) this.#to(message);
    else this.early.push(message);
  }
  connect(to: (message: string) => void): void {
    this.#to = to;
    for (const m of this.early.splice(0)) to(m);
  }
}

export async function roundCommand(o: RoundOptions): Promise<number> {
  const r = prepare(o);
  const { plan, state, runId, fps, selection } = r;
  const relay = new WarningRelay();
  const backend = await createBackend(r.p, plan, {
    warn: (m) => relay.warn(m),
    ...(o.user !== undefined ? { user: o.user } : plan.backend === 'docker' ? { user: invokingUser() } : {}),
    ...(o.localEnv !== undefined ? { localEnv: o.localEnv } : {}),
    ...(o.skipDiskCheck ? { skipDiskCheck: true } : {}),
  });

  const reachable = await backend.connect();
  if (o.dryRun) {
    if (!reachable.ok) process.stderr.write(`note: ${reachable.error.shortMessage}; running jobs cannot be seen, so the plan assumes none\n`);
    const live = reachable.ok ? await findLiveJobs(backend, runId, plan, true) : new Map<string, LiveJob>();
    const actions = predictBlocked(plan, decideActions(plan, fps, state, live, selection), state);
    printPlan(plan, actions, o.json ?? false, r.warnings.map(formatDiagnostic));
    return EXIT.ok;
  }

  if (!reachable.ok) throw reachable.error;
  // checks come before the lock and the run dir: a run that cannot start leaves nothing behind and says so once
  const checked = await checkBeforeLocking(backend, plan, runId, (live) => decideActions(plan, fps, state, live, selection), state, relay.early);
  const session = await RunSession.open({ plan, runId, state, json: o.json ?? false, quiet: o.quiet ?? false, detach: o.detach ?? false, graceSeconds: o.grace ?? 30 });
  try {
    return await execute(r, o, backend, session, checked, relay);
  } finally {
    await session.close();
  }
}

/** The run itself, under the session's lock: decide against the state as it is now, then schedule. */
async function execute(r: Prepared, o: RoundOptions, backend: Backend, session: RunSession, checked: Set<string>, relay: WarningRelay): Promise<number> {
  const { plan, fps, runId, p } = r;
  const emit = (e: RunEvent) => session.emit(e);
  const t0 = Date.now();
  if (r.recovered) emit({ type: 'warning', ts: now(), message: r.recovered.note });
  emit({ type: 'run-started', ts: now(), runId, pipeline: r.file, pipelinePath: resolve(r.file), cwd: process.cwd(), pipelineName: p.spec.name, rounds: r.rounds, backend: plan.backend, image: plan.image, pid: process.pid, host: hostname(), argv: process.argv.slice(2) });
  const store = session.store;
  const live = await findLiveJobs(backend, runId, plan, false);
  const actions = predictBlocked(plan, decideActions(plan, fps, store.state, live, r.selection), store.state);
  upgradeFingerprints(store.state, fps, actions);
  // an exited job whose outcome is already recorded (the CLI died before removing it) is just clutter
  for (const a of actions) if (a.action === 'skip' && live.get(a.key)?.running === false) await backend.release((live.get(a.key) as LiveJob).handle);
  for (const a of actions) {
    const fp = fps.get(a.key);
    emit({ type: 'stage-planned', ts: now(), key: a.key, action: a.action, reason: a.reason, fingerprint: fp?.hash ?? '', fields: fp?.fields ?? {}, ...(a.action === 'resume' ? { checkpoint: a.checkpoint } : {}) });
  }
  // the state may have moved while this CLI waited for the lock: check what was not checked yet
  const toRun = stagesToRun(plan, actions).filter((s) => !checked.has(s.key));
  if (toRun.length > 0) {
    const pre = await backend.preflight(plan, toRun);
    if (!pre.ok) {
      emit({ type: 'run-finished', ts: now(), ok: false, exitCode: pre.error.exitCode, durationMs: Date.now() - t0, summary: pre.error.shortMessage });
      throw pre.error;
    }
    relay.early.push(...pre.value);
  }
  relay.connect((m) => emit({ type: 'warning', ts: now(), message: m }));
  const result = await schedule(r, o, backend, session, actions).catch((e: unknown) => {
    // a bad-input problem found mid-run (an output path leaving the run dir) still ends the session on record
    if (isFluxError(e)) emit({ type: 'run-finished', ts: now(), ok: false, exitCode: e.exitCode, durationMs: Date.now() - t0, summary: e.shortMessage });
    throw e;
  });
  emit({ type: 'run-finished', ts: now(), ok: result.exitCode === 0, exitCode: result.exitCode, durationMs: Date.now() - t0, summary: summarize(result.outcomes) });
  return result.exitCode;
}

/** The executor over this session: every event goes through the session. */
function schedule(r: Prepared, o: RoundOptions, backend: Backend, session: RunSession, actions: PlannedAction[]): Promise<RunOutcome> {
  const { plan, fps, runId, p } = r;
  const store = session.store;
  return new Scheduler({
    plan,
    runId,
    backend,
    keySet: p.keySet,
    fingerprints: fps,
    actions,
    initial: store.state,
    emit: (e) => session.emit(e),
    maxAttempts: o.maxAttempts ?? p.spec.retries.max_attempts,
    backoffSeconds: o.backoff ?? p.spec.retries.backoff_seconds,
    graceSeconds: o.grace ?? 30,
    interrupt: session.signals.interrupt,
    kill: session.signals.kill,
    detach: o.detach ?? false,
    maxParallel: o.maxParallel ?? plan.maxParallel ?? 1,
    keepGoing: o.keepGoing ?? false,
    ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
    onCurrent: (k) => session.setCurrent(k),
  }).run();
}

/** "2 done, 1 skipped": how many stage instances ended which way. */
function summarize(outcomes: Map<string, StageOutcome>): string {
  const counts = new Map<string, number>();
  for (const v of outcomes.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v} ${k}`).join(', ') || 'nothing to do';
}

/** state.json is gone but the event log is not: rebuild from it, keeping "done" only where the outputs still match. */
function recoverFromEvents(plan: Plan): { state: RunState; note: string } | undefined {
  if (!hasRun(plan.runDir)) return undefined;
  const dirs = new Map(plan.stages.map((s) => [s.key, s.outputDir]));
  const fallback = outputDirOfKey(plan.runDir);
  const { state, report } = rebuildState(plan.runDir, (k) => dirs.get(k) ?? fallback(k));
  const dropped = report.droppedDone.map((d) => `${d.key} (${d.why})`);
  return {
    state,
    note:
      `${new RunDir(plan.runDir).stateFile} was missing; rebuilt from ${report.events} events in events.jsonl` +
      `${report.badLines.length > 0 ? ` (${report.badLines.length} unreadable line(s) skipped)` : ''}; finished and intact: ${report.keptDone.join(', ') || 'none'}` +
      `${dropped.length > 0 ? `; no longer counted as finished: ${dropped.join(', ')}` : ''}`,
  };
}

/** Stages skipped as unchanged under an older fingerprint format get today's fingerprint, so state.json keeps no clear env values. */
function upgradeFingerprints(state: RunState, fps: Map<string, Fingerprint>, actions: PlannedAction[]): void {
  for (const a of actions) {
    const st = state.stages[a.key];
    const fp = fps.get(a.key);
    if (a.action !== 'skip' || !a.upgradeFingerprint || !st?.done || !fp) continue;
    st.done.fingerprint = fp.hash;
    st.done.fields = fp.fields;
    st.fingerprint = fp.hash;
    st.fields = fp.fields;
  }
}

/** The backend's checks for the stages that will run, from the state as it is now; returns the stages checked. */
async function checkBeforeLocking(
  backend: Backend,
  plan: Plan,
  runId: string,
  decide: (live: Map<string, LiveJob>) => PlannedAction[],
  state: RunState | undefined,
  warnings: string[],
): Promise<Set<string>> {
  const live = await findLiveJobs(backend, runId, plan, false);
  const toRun = stagesToRun(plan, predictBlocked(plan, decide(live), state));
  if (toRun.length > 0) {
    const pre = await backend.preflight(plan, toRun);
    if (!pre.ok) throw pre.error;
    warnings.push(...pre.value);
  }
  return new Set(toRun.map((s) => s.key));
}

async function findLiveJobs(backend: Backend, runId: string, plan: Plan, tolerant: boolean): Promise<Map<string, LiveJob>> {
  const live = new Map<string, LiveJob>();
  for (const s of plan.stages) {
    try {
      const j = await backend.findJob(runId, s);
      if (j) live.set(s.key, j);
    } catch (e) {
      if (tolerant) return live; // dry-run without a reachable engine: plan from files alone
      throw e;
    }
  }
  return live;
}

