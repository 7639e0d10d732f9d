import { existsSync, readdirSync } from 'node:fs';
import type { LiveJob } from '../backends/backend.js';
import { listCheckpoints, manifestDrift } from '../llamafactory/outputs.js';
import type { Plan, PlanStage } from '../pipeline/plan-types.js';
import type { StageAction } from '../run/events.js';
import { changedFields, legacyHash, RESUME_CRITICAL, type Fingerprint } from './fingerprint.js';
import type { RunState } from './state.js';

/**
 * What `round` will do with one stage instance, and why (shown by --dry-run, human and JSON). Each
 * action carries only what it needs: a resume its checkpoint, a re-attach the job it follows.
 */
export type PlannedAction =
  | { action: 'run'; key: string; reason: string }
  /** changed: the fingerprint fields that changed, when that is why it reruns */
  | { action: 'rerun'; key: string; reason: string; changed?: string[] }
  /** checkpoint: the step to continue from */
  | { action: 'resume'; key: string; reason: string; checkpoint: number }
  /** live: the job found running (or exited unwatched) */
  | { action: 'reattach'; key: string; reason: string; live: LiveJob }
  /** upgradeFingerprint: finished under an older fingerprint format that means the same; record today's */
  | { action: 'skip'; key: string; reason: string; upgradeFingerprint?: true }
  /** changed: the resume-critical fields that changed, when that is why it is blocked */
  | { action: 'blocked'; key: string; reason: string; changed?: string[] };

// the event log records the tag: both lists must stay the same
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const sameTags: Same<StageAction, PlannedAction['action']> = true;
void sameTags;

/** Whether the action starts or follows a job in this invocation. */
export const startsWork = (a: PlannedAction): a is Extract<PlannedAction, { action: 'run' | 'rerun' | 'resume' | 'reattach' }> =>
  a.action === 'run' || a.action === 'rerun' || a.action === 'resume' || a.action === 'reattach';

export interface Selection {
  /** stage ids or keys to start fresh (old outputs moved aside) */
  restart: string[];
  /** rerun this stage and everything downstream of it */
  from?: string;
  /** run only these stage ids or keys */
  only: string[];
}

const matches = (s: PlanStage, sel: string): boolean => s.id === sel || s.key === sel;

export function describeAction(a: PlannedAction): string {
  return a.action === 'resume' ? `resume@checkpoint-${a.checkpoint}` : a.action;
}

/** Downstream closure: every instance that (transitively) depends on one of `roots`. */
export function downstreamOf(plan: Plan, roots: Set<string>): Set<string> {
  const out = new Set(roots);
  for (const s of plan.stages) if (s.dependsOn.some((d) => out.has(d))) out.add(s.key);
  return out;
}

export function decideActions(
  plan: Plan,
  fps: Map<string, Fingerprint>,
  state: RunState | undefined,
  live: Map<string, LiveJob>,
  sel: Selection = { restart: [], only: [] },
): PlannedAction[] {
  const forced = new Map<string, string>();
  for (const s of plan.stages) for (const r of sel.restart) if (matches(s, r)) forced.set(s.key, `--restart-stage ${r}`);
  if (sel.from !== undefined) {
    const roots = new Set(plan.stages.filter((s) => matches(s, sel.from as string)).map((s) => s.key));
    for (const k of downstreamOf(plan, roots)) if (!forced.has(k)) forced.set(k, `--from ${sel.from}`);
  }
  const changing = new Set<string>();
  const renamed = new Map<string, string>();
  const out: PlannedAction[] = [];
  for (const s of plan.stages) {
    const fp = fps.get(s.key) as Fingerprint;
    const st = state?.stages[s.key];
    const job = live.get(s.key);
    const decided = decideOne(s, fp, st, job, forced.get(s.key), changing, renamed);
    if (sel.only.length > 0 && !sel.only.some((o) => matches(s, o)) && decided.action !== 'skip' && decided.action !== 'reattach') {
      out.push({ key: s.key, action: 'skip', reason: `not selected by --only ${sel.only.join(',')}${st?.done ? '' : ' (not finished)'}` });
      continue;
    }
    if (decided.action !== 'skip' && decided.action !== 'blocked') changing.add(s.key);
    out.push(decided);
  }
  return out;
}

function decideOne(
  s: PlanStage,
  fp: Fingerprint,
  st: RunState['stages'][string] | undefined,
  job: LiveJob | undefined,
  forced: string | undefined,
  changing: Set<string>,
  renamed: Map<string, string>,
): PlannedAction {
  const key = s.key;
  if (job?.running) {
    if (job.fingerprint !== undefined && job.fingerprint !== fp.hash) {
      return {
        key,
        action: 'blocked',
        reason: `a job of an older configuration (${job.handle.name ?? job.handle.id}) is still running for ${key}; wait for it or stop it (${job.stopCommand}), then rerun`,
      };
    }
    return { key, action: 'reattach', reason: `attempt ${job.attempt} is still running (${job.handle.name ?? job.handle.id}); following it instead of starting another`, live: job };
  }
  if (forced !== undefined) return { key, action: 'rerun', reason: `forced by ${forced}; old outputs are moved aside` };
  const lastAttempt = st?.attempts[st.attempts.length - 1];
  // no outcome recorded yet, or only that a --detach session stopped following it: read how it ended
  const unsettled = lastAttempt?.outcome === undefined || lastAttempt.outcome === 'detached';
  if (job && !job.running && st && !st.done && lastAttempt && unsettled && job.attempt === lastAttempt.n) {
    return { key, action: 'reattach', reason: `attempt ${job.attempt} exited while no flux-train watched it; reading its outcome`, live: job };
  }
  const upstream = s.dependsOn.filter((d) => changing.has(d));
  if (st?.done) {
    if (upstream.length > 0) return { key, action: 'rerun', reason: `input ${upstream.join(', ')} runs again, so this stage is stale` };
    const legacy = st.done.fingerprint !== fp.hash && legacyHash(st.done.fields, renamed) === fp.hash;
    if (legacy) renamed.set(st.done.fingerprint, fp.hash);
    if (st.done.fingerprint !== fp.hash && !legacy) {
      const changed = changedFields(st.done.fields, fp.fields);
      return { key, action: 'rerun', reason: `changed since it finished: ${changed.join(', ')}`, changed };
    }
    const drift = manifestDrift(s.outputDir, st.done.manifest);
    if (drift.length > 0) return { key, action: 'rerun', reason: `its outputs changed since it finished: ${drift.slice(0, 3).join('; ')}` };
    return { key, action: 'skip', reason: `finished ${st.done.finishedAt}, unchanged`, ...(legacy ? { upgradeFingerprint: true as const } : {}) };
  }
  if (s.kind === 'train') {
    const cps = listCheckpoints(s.outputDir);
    const valid = cps.find((c) => c.valid);
    if (valid) {
      const broken = cps.filter((c) => !c.valid && c.step > valid.step);
      const prev = st?.fields;
      const changed = prev ? changedFields(prev, fp.fields) : [];
      const critical = changed.filter((f) => RESUME_CRITICAL.includes(f) || f.startsWith('dataset.') || f.startsWith('dep.'));
      if (critical.length > 0) {
        return {
          key,
          action: 'blocked',
          reason: `refusing to resume ${key} from checkpoint-${valid.step}: ${critical.join(', ')} changed, which reshapes the learning-rate schedule or the data; run with --restart-stage ${s.id} to start it fresh (old outputs are moved aside)`,
          changed: critical,
        };
      }
      const why = lastAttempt?.outcome === 'interrupted' ? 'it was interrupted' : lastAttempt?.cause ? `attempt ${lastAttempt.n} failed (${lastAttempt.cause})` : 'it did not finish';
      const q = broken.length > 0 ? `; newer broken ${broken.map((b) => `checkpoint-${b.step} (${b.problem})`).join(', ')} will be quarantined` : '';
      return { key, action: 'resume', checkpoint: valid.step, reason: `${why}; newest valid checkpoint is checkpoint-${valid.step}${q}` };
    }
  }
  if (existsSync(s.outputDir) && readdirSync(s.outputDir).length > 0) {
    return { key, action: 'run', reason: 'an earlier attempt left no usable checkpoint; its files are moved aside' };
  }
  if (st && st.attempts.length > 0) return { key, action: 'run', reason: `attempt ${st.attempts.length} did not get to a checkpoint` };
  return { key, action: 'run', reason: 'never ran' };
}

/** The action decided for `key`; every stage instance of the plan has one. */
export function actionOf(byKey: Map<string, PlannedAction>, key: string): PlannedAction {
  const a = byKey.get(key);
  if (a === undefined) throw new Error(`Internal error: no action decided for ${key}`);
  return a;
}

/** The stages that start a job in this invocation (a re-attach follows one that already runs). */
export function stagesToRun(plan: Plan, actions: PlannedAction[]): PlanStage[] {
  const byKey = new Map(actions.map((a) => [a.key, a.action]));
  return plan.stages.filter((s) => {
    const a = byKey.get(s.key);
    return a === 'run' || a === 'rerun' || a === 'resume';
  });
}

/**
 * A stage whose input is neither finished nor going to run in this invocation (left out by --only,
 * or itself blocked) is blocked now, so the dry run says what the run will do.
 */
export function predictBlocked(plan: Plan, actions: PlannedAction[], state: RunState | undefined): PlannedAction[] {
  const byKey = new Map(actions.map((a) => [a.key, a]));
  const out = new Map<string, PlannedAction>();
  for (const s of plan.stages) {
    const a = actionOf(byKey, s.key);
    if (a.action === 'skip' || a.action === 'blocked' || a.action === 'reattach') {
      out.set(s.key, a);
      continue;
    }
    const missing = s.dependsOn.filter((d) => {
      const da = out.get(d);
      if (da === undefined) return false; // not part of this plan's rounds
      if (da.action === 'blocked') return true;
      return da.action === 'skip' && state?.stages[d]?.done === undefined;
    });
    if (missing.length === 0) out.set(s.key, a);
    else {
      const only = missing.filter((d) => out.get(d)?.action === 'skip');
      const fix = only.length > 0 ? `; it was left out (add --only ${only.map((d) => d.replace(/^r\d+\//, '')).join(' --only ')}, or run without --only)` : '';
      out.set(s.key, { key: s.key, action: 'blocked', reason: `input ${missing.join(', ')} is not finished and does not run now${fix}` });
    }
  }
  return plan.stages.map((s) => actionOf(out, s.key));
}
