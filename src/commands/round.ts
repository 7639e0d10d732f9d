import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Backend, LiveJob } from '../backends/backend.js';
import { createBackend } from '../backends/select.js';
import { formatDiagnostic } from '../pipeline/diagnostics.js';
import type { Plan } from '../pipeline/plan-types.js';
import { decideActions, describeAction, type PlannedAction, type Selection } from '../state/actions.js';
import { fingerprintPlan, type Fingerprint } from '../state/fingerprint.js';
import { RunLock } from '../state/lock.js';
import { assertInsideRunDir, checkRunDirPath, runDirOption } from '../state/run-dir.js';
import type { RunState } from '../state/state.js';
import { hasRun, outputDirOfKey, readState, rebuildState, RunStore } from '../state/store.js';
import { redact, redactDeep, useSecrets } from '../util/redact.js';
import { now, type RunEvent } from '../run/events.js';
import { Scheduler } from '../run/scheduler.js';
import { chooseRenderer, type Renderer } from '../ui/renderer.js';
import { FluxError } from '../util/errors.js';
import { EXIT, defaultRunDir, loadOrThrow, parseBackend, parseGpus, parseRounds, pipelinePath, planOrThrow, viewFor } from './context.js';

export interface RoundOptions {
  n?: string;
  pipeline?: string;
  runDir?: string;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  backend?: string;
  image?: string;
  gpus?: string;
  user?: string;
  detach?: boolean;
  from?: string;
  only?: string[];
  restartStage?: string[];
  maxAttempts?: string;
  backoff?: string;
  grace?: string;
  hashData?: boolean;
  skipDiskCheck?: boolean;
  localEnv?: string;
  hfCache?: string;
  pollMs?: string;
}

function invokingUser(): string | undefined {
  if (typeof process.getuid !== 'function' || typeof process.getgid !== 'function') return undefined;
  return `${process.getuid()}:${process.getgid()}`;
}

export async function roundCommand(o: RoundOptions): Promise<number> {
  if (o.runDir !== undefined) runDirOption(o.runDir, '');
  const file = pipelinePath(o.pipeline);
  const p = loadOrThrow(file);
  const rounds = parseRounds(o.n);
  const backendName = parseBackend(o.backend) ?? p.spec.backend;
  const runDir = o.runDir !== undefined ? runDirOption(o.runDir, '') : defaultRunDir(p);
  checkRunDirPath(runDir);
  const gpus = parseGpus(o.gpus);
  const { plan, warnings } = planOrThrow(p, {
    rounds,
    runDir,
    backend: backendName,
    view: viewFor(backendName),
    dataProblems: o.dryRun ? 'warning' : 'error',
    ...(gpus !== undefined ? { gpus } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.hfCache !== undefined ? { hfCache: o.hfCache } : {}),
  });
  useSecrets(p.spec.docker.pass_env, plan.stages.map((s) => s.env));
  for (const w of warnings) process.stderr.write(`${redact(formatDiagnostic(w))}\n`);
  // every output dir must stay inside the run dir, symlinks resolved, before anything reads or moves it
  for (const s of plan.stages) assertInsideRunDir(plan.runDir, s.outputDir, `the output dir of ${s.key}`);
  const stateRes = readState(plan.runDir);
  if (!stateRes.ok) throw stateRes.error;
  const recovered = stateRes.value === undefined ? recoverFromEvents(plan) : undefined;
  if (recovered && o.dryRun) process.stderr.write(`note: ${recovered.note}\n`);
  const state = stateRes.value ?? recovered?.state;
  const runId = state?.runId ?? randomUUID();
  const fps = fingerprintPlan(plan, { hashData: o.hashData ?? false });
  const selection: Selection = { restart: o.restartStage ?? [], only: o.only ?? [], ...(o.from !== undefined ? { from: o.from } : {}) };
  for (const sel of [...selection.restart, ...selection.only, ...(selection.from ? [selection.from] : [])]) {
    if (!plan.stages.some((s) => s.id === sel || s.key === sel)) {
      throw new FluxError('usage', `no stage instance matches "${sel}"`, `use a stage id (${[...new Set(plan.stages.map((s) => s.id))].join(', ')}) or a key such as ${plan.stages[0]?.key}`, 2);
    }
  }
  const warnList: string[] = [];
  const backend = await createBackend(p, plan, {
    warn: (m) => warnList.push(m),
    ...(o.user !== undefined ? { user: o.user } : plan.backend === 'docker' ? { user: invokingUser() } : {}),
    ...(o.localEnv !== undefined ? { localEnv: o.localEnv } : {}),
    ...(o.skipDiskCheck ? { skipDiskCheck: true } : {}),
  });

  const reachable = await backend.connect();
  if (o.dryRun) {
    if (!reachable.ok) process.stderr.write(`note: ${reachable.error.shortMessage}; running jobs cannot be seen, so the plan assumes none\n`);
    const live = reachable.ok ? await findLiveJobs(backend, runId, plan, true) : new Map<string, LiveJob>();
    const actions = decideActions(plan, fps, state, live, selection);
    printPlan(plan, actions, o.json ?? false, warnings.map(formatDiagnostic));
    return EXIT.ok;
  }

  if (!reachable.ok) throw reachable.error;
  const lock = RunLock.acquire(plan.runDir, `flux-train ${process.argv.slice(2).join(' ')}`);
  if (!lock.ok) throw lock.error;
  const store = new RunStore(plan.runDir, state);
  const logger = pino({ base: { run: runId } }, pino.destination({ dest: join(plan.runDir, 'flux-train.log'), sync: true, mkdir: true }));
  const kind = chooseRenderer({ json: o.json ?? false, quiet: o.quiet ?? false, isTTY: process.stdout.isTTY === true });
  let renderer: Renderer;
  if (kind === 'tty') {
    const { TtyRenderer } = await import('../ui/tty.js');
    renderer = new TtyRenderer(plan);
  } else {
    const { PlainRenderer, JsonRenderer } = await import('../ui/plain.js');
    renderer = kind === 'json' ? new JsonRenderer() : new PlainRenderer(undefined, kind === 'quiet');
  }
  const emit = (event: RunEvent) => {
    const e = redactDeep(event);
    store.record(e);
    if (e.type !== 'stage-progress') logger[e.type === 'stage-failed' ? 'error' : e.type === 'warning' ? 'warn' : 'info'](e, e.type);
    renderer.handle(e);
  };
  const interrupt = new AbortController();
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1) {
      process.stderr.write(o.detach ? '\ninterrupt: leaving the running stage detached; `flux-train resume` re-attaches\n' : '\ninterrupt: stopping the running stage (SIGTERM, then SIGKILL); press Ctrl-C again to quit at once\n');
      interrupt.abort();
    } else {
      store.close();
      lock.value.release();
      process.exit(EXIT.interrupted);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const t0 = Date.now();
  try {
    const took = lock.value.takenOver;
    if (took) {
      // recorded in the event log; shown once, as a warning
      const ev: RunEvent = redactDeep({ type: 'lock-takeover', ts: now(), previous: { ...(took.owner ?? {}), why: took.why } });
      store.record(ev);
      logger.warn(ev, ev.type);
      emit({ type: 'warning', ts: now(), message: `took over the lock of ${plan.runDir}: ${took.why}` });
    }
    if (recovered) emit({ type: 'warning', ts: now(), message: recovered.note });
    emit({ type: 'run-started', ts: now(), runId, pipeline: file, pipelineName: p.spec.name, rounds, backend: plan.backend, image: plan.image, pid: process.pid, host: hostname(), argv: process.argv.slice(2) });
    const live = await findLiveJobs(backend, runId, plan, false);
    const actions = decideActions(plan, fps, store.state, live, selection);
    upgradeFingerprints(store.state, fps, actions);
    // an exited job whose outcome is already recorded (the CLI died before removing it) is just clutter
    for (const a of actions) if (a.action === 'skip' && live.get(a.key)?.running === false) await backend.release((live.get(a.key) as LiveJob).handle);
    for (const a of actions) {
      const fp = fps.get(a.key);
      emit({ type: 'stage-planned', ts: now(), key: a.key, action: a.action, reason: a.reason, fingerprint: fp?.hash ?? '', fields: fp?.fields ?? {}, ...(a.checkpoint !== undefined ? { checkpoint: a.checkpoint } : {}) });
    }
    const toRun = plan.stages.filter((s) => {
      const a = actions.find((x) => x.key === s.key);
      return a !== undefined && a.action !== 'skip' && a.action !== 'blocked' && a.action !== 'reattach';
    });
    if (toRun.length > 0) {
      const pre = await backend.preflight(plan, toRun);
      if (!pre.ok) {
        emit({ type: 'run-finished', ts: now(), ok: false, exitCode: pre.error.exitCode, durationMs: Date.now() - t0, summary: pre.error.shortMessage });
        throw pre.error;
      }
      for (const w of pre.value) warnList.push(w);
    }
    const flushWarnings = () => {
      for (const m of warnList.splice(0)) emit({ type: 'warning', ts: now(), message: m });
    };
    flushWarnings();
    const scheduler = new Scheduler({
      plan,
      runId,
      backend,
      keySet: p.keySet,
      fingerprints: fps,
      actions,
      state: () => store.state,
      emit: (e) => {
        flushWarnings();
        emit(e);
      },
      maxAttempts: o.maxAttempts !== undefined ? Number(o.maxAttempts) : p.spec.retries.max_attempts,
      backoffSeconds: o.backoff !== undefined ? Number(o.backoff) : p.spec.retries.backoff_seconds,
      graceSeconds: o.grace !== undefined ? Number(o.grace) : 30,
      interrupt: interrupt.signal,
      detach: o.detach ?? false,
      ...(o.pollMs !== undefined ? { pollMs: Number(o.pollMs) } : {}),
      onCurrent: (k) => lock.value.update(k),
    });
    const result = await scheduler.run();
    flushWarnings();
    const counts = new Map<string, number>();
    for (const v of result.outcomes.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
    const summary = [...counts].map(([k, v]) => `${v} ${k}`).join(', ') || 'nothing to do';
    emit({ type: 'run-finished', ts: now(), ok: result.exitCode === 0, exitCode: result.exitCode, durationMs: Date.now() - t0, summary });
    return result.exitCode;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await renderer.end();
    store.close();
    lock.value.release();
    logger.flush();
  }
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
      `${join(plan.runDir, 'state.json')} was missing; rebuilt from ${report.events} events in events.jsonl` +
      `${report.badLines.length > 0 ? ` (${report.badLines.length} unreadable line(s) skipped)` : ''}; finished and intact: ${report.keptDone.join(', ') || 'none'}` +
      `${dropped.length > 0 ? `; no longer counted as finished: ${dropped.join(', ')}` : ''}`,
  };
}

/** Stages skipped as unchanged under an older fingerprint format get today's fingerprint, so state.json keeps no clear env values. */
function upgradeFingerprints(state: RunState, fps: Map<string, Fingerprint>, actions: PlannedAction[]): void {
  for (const a of actions) {
    const st = state.stages[a.key];
    const fp = fps.get(a.key);
    if (!a.upgradeFingerprint || !st?.done || !fp) continue;
    st.done.fingerprint = fp.hash;
    st.done.fields = fp.fields;
    st.fingerprint = fp.hash;
    st.fields = fp.fields;
  }
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

function printPlan(plan: Plan, actions: PlannedAction[], json: boolean, warnings: string[]): void {
  const write = (t: string) => process.stdout.write(redact(t));
  const byKey = new Map(actions.map((a) => [a.key, a]));
  if (json) {
    const out = {
      pipeline: plan.pipeline,
      run_dir: plan.runDir,
      rounds: plan.rounds,
      backend: plan.backend,
      image: plan.image,
      mounts: plan.mounts,
      stages: plan.stages.map((s) => {
        const a = byKey.get(s.key) as PlannedAction;
        return {
          key: s.key,
          id: s.id,
          round: s.round,
          stage: s.stage,
          kind: s.kind,
          action: describeAction(a),
          reason: a.reason,
          ...(a.checkpoint !== undefined ? { checkpoint: a.checkpoint } : {}),
          ...(a.changed ? { changed: a.changed } : {}),
          depends_on: s.dependsOn,
          model: s.kind === 'train' ? (s.trainerModel ?? '') : '',
          ...(s.refModel ? { ref_model: s.args['ref_model'] } : {}),
          datasets: s.datasets.map((d) => ({ name: d.name, path: d.hostPath, info: d.info })),
          output_dir: s.outputDir,
          trainer_output_dir: s.trainerOutputDir,
          config: s.kind === 'train' ? s.configPath : undefined,
          args: s.args,
          command: s.command,
          env: s.env,
          gpus: s.gpus,
          image: s.image,
        };
      }),
      warnings,
    };
    write(`${JSON.stringify(redactDeep(out), null, 2)}\n`);
    return;
  }
  write(`plan: ${plan.pipelineName}, rounds 1..${plan.rounds}, backend ${plan.backend}, image ${plan.image}\nrun dir: ${plan.runDir}\n`);
  for (const m of plan.mounts) write(`  mount ${m.host} -> ${m.container} (${m.mode}, ${m.what})\n`);
  for (const s of plan.stages) {
    const a = byKey.get(s.key) as PlannedAction;
    const model = s.kind === 'train' ? (s.model?.kind === 'stage' ? `${s.model.key} (${s.trainerModel})` : s.trainerModel) : '-';
    const data = s.datasets.map((d) => `${d.name}=${d.hostPath}`).join(', ') || '-';
    write(
      `${s.key.padEnd(24)} ${describeAction(a).padEnd(22)} ${a.reason}\n    ${s.kind === 'train' ? s.stage : 'command'}  model: ${model}\n    data: ${data}\n    out: ${s.outputDir}${s.trainerOutputDir !== s.outputDir ? ` (trainer sees ${s.trainerOutputDir})` : ''}\n`,
    );
  }
  const n = (k: string) => actions.filter((a) => a.action === k).length;
  write(`${actions.length} stage instances: ${n('run')} run, ${n('rerun')} rerun, ${n('resume')} resume, ${n('reattach')} re-attach, ${n('skip')} skip, ${n('blocked')} blocked\n`);
}
