import { causeInfo, type CauseCode } from '../run/causes.js';
import type { RunEvent } from '../run/events.js';
import type { AttemptRecord, RunState, StageState } from '../state/state.js';
import { unreachable } from '../util/unreachable.js';
import type { BarKind, CurveSegment, LostTime, TimeAccount, Timeline, TimelineBar } from './model.js';

const ms = (iso: string | undefined): number | undefined => {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
};

/** Stage keys in the order they ran: round first, then first appearance in the event log. */
export function stageOrder(s: RunState, events: RunEvent[]): string[] {
  const seen = new Map<string, number>();
  for (const e of events) if ('key' in e && typeof e.key === 'string' && !seen.has(e.key)) seen.set(e.key, seen.size);
  for (const k of Object.keys(s.stages)) if (!seen.has(k)) seen.set(k, seen.size);
  const round = (k: string) => Number(/^r(\d+)\//.exec(k)?.[1] ?? 0);
  return [...seen.keys()].sort((a, b) => round(a) - round(b) || (seen.get(a) as number) - (seen.get(b) as number));
}

function barKind(a: AttemptRecord, transient: boolean | undefined, inProgress: boolean): BarKind {
  const outcome = a.outcome;
  if (outcome === undefined) return inProgress ? 'running' : 'interrupted';
  switch (outcome) {
    case 'finished':
      return 'finished';
    case 'failed':
      return (transient ?? (a.cause !== undefined && causeInfo(a.cause).class === 'transient')) ? 'failed-transient' : 'failed-deterministic';
    case 'interrupted':
      return 'interrupted';
    case 'detached':
      return inProgress ? 'running' : 'detached';
    default:
      return unreachable(outcome, 'attempt outcome');
  }
}

/**
 * One bar per attempt of every stage instance. An attempt with no recorded end is still running
 * while a `round` holds the run dir (it ends "now"); otherwise the run stopped under it, and the bar
 * ends where the state was last written.
 */
export function buildTimeline(s: RunState, events: RunEvent[], nowMs: number, inProgress: boolean): Timeline {
  const started = new Map<string, number>();
  const reattached = new Set<string>();
  const transient = new Map<string, boolean>();
  const failMessage = new Map<string, string>();
  for (const e of events) {
    if (e.type === 'stage-started') started.set(`${e.key}#${e.attempt}`, ms(e.ts) ?? 0);
    if (e.type === 'stage-reattached') reattached.add(`${e.key}#${e.attempt}`);
    if (e.type === 'stage-failed') {
      transient.set(`${e.key}#${e.attempt}`, e.transient);
      failMessage.set(`${e.key}#${e.attempt}`, e.shortMessage);
    }
  }
  const sessionStarts = s.sessions.map((x) => ms(x.startedAt)).filter((x): x is number => x !== undefined);
  const attemptStarts = Object.values(s.stages).flatMap((st) => st.attempts.map((a) => ms(a.startedAt) ?? Infinity));
  const startMs = Math.min(...sessionStarts, ...attemptStarts, nowMs);
  const stoppedAt = ms(s.updatedAt) ?? nowMs;
  const openEnd = inProgress ? nowMs : stoppedAt;
  let endMs = startMs;
  const bars: TimelineBar[] = [];
  // own keys only: an event keyed `toString` must not find Object.prototype's function
  const rows = stageOrder(s, events).filter((k) => Object.hasOwn(s.stages, k) && (s.stages[k]?.attempts.length ?? 0) > 0);
  for (const key of rows) {
    const st = s.stages[key] as StageState;
    for (const a of st.attempts) {
      const id = `${key}#${a.n}`;
      const t0 = ms(a.startedAt) ?? startMs;
      const t1 = Math.max(t0, ms(a.endedAt) ?? openEnd);
      const up = started.get(id);
      const kind = barKind(a, transient.get(id), inProgress);
      const message = a.message ?? failMessage.get(id);
      bars.push({
        key,
        attempt: a.n,
        start: t0 - startMs,
        end: t1 - startMs,
        ...(up !== undefined && up > t0 && up <= t1 ? { launchEnd: up - startMs } : {}),
        kind,
        ...(a.cause !== undefined ? { cause: a.cause } : {}),
        ...(message !== undefined ? { message } : {}),
        reattached: reattached.has(id),
        ...(a.resumeFrom !== undefined ? { resumeFrom: a.resumeFrom } : {}),
      });
      endMs = Math.max(endMs, t1);
    }
  }
  const servers = serverBars(events, startMs, openEnd);
  bars.push(...servers);
  for (const b of servers) {
    if (!rows.includes(b.key)) rows.push(b.key);
    endMs = Math.max(endMs, b.end + startMs);
  }
  const sessions = s.sessions.map((x) => {
    const a = ms(x.startedAt) ?? startMs;
    const b = ms(x.endedAt) ?? (inProgress ? nowMs : stoppedAt);
    endMs = Math.max(endMs, b);
    return { start: a - startMs, end: Math.max(a, b) - startMs, ...(x.ok !== undefined ? { ok: x.ok } : {}) };
  });
  return { startMs, endMs, rows, bars, sessions };
}

/** One bar per server attempt, from its serve events: loading until ready (drawn lighter), then serving until it stopped or failed. */
function serverBars(events: RunEvent[], startMs: number, openEnd: number): TimelineBar[] {
  const byId = new Map<string, TimelineBar>();
  for (const e of events) {
    if (!e.type.startsWith('serve-') || !('attempt' in e)) continue;
    const id = `${e.key}#${e.attempt}`;
    const t = (ms(e.ts) ?? startMs) - startMs;
    if (e.type === 'serve-starting') byId.set(id, { key: e.key, attempt: e.attempt, start: t, end: Math.max(t, openEnd - startMs), kind: 'running', reattached: false, server: true });
    const bar = byId.get(id);
    if (bar === undefined) continue;
    if (e.type === 'serve-ready') bar.launchEnd = Math.max(bar.start, t);
    if (e.type === 'serve-reused') bar.reattached = true;
    // the first end counts: a failure after a stop (or a stop after a failure) changes nothing
    if ((e.type === 'serve-stopped' || e.type === 'serve-failed') && bar.kind === 'running') {
      bar.end = Math.max(bar.start, t);
      if (e.type === 'serve-failed') Object.assign(bar, { kind: 'failed-deterministic', message: e.message });
      else bar.kind = 'finished';
    }
  }
  return [...byId.values()];
}

export const BETWEEN = 'between attempts: preflight, retry back-off, hand-offs, queueing';
export const REDONE = 'steps trained again';

const causeLabel = (c: CauseCode | undefined, outcome: string): string => (c !== undefined ? `${c}: ${causeInfo(c).title}` : outcome);

/**
 * Where the wall-clock time went. Wall time is the sum of the `round` sessions. Training time is
 * useful for the share of an attempt's steps that were not trained again later; the rest of a
 * failed or interrupted attempt is lost to its cause. Time outside any attempt (preflight, retry
 * back-off, hand-offs, Slurm queueing before a job starts) is its own line. Steps come from the
 * curve segments matched to each attempt, because a retried attempt re-reads the whole log and its
 * recorded first step is the previous attempt's.
 */
export function accountTime(s: RunState, timeline: Timeline, segmentsByKey: Map<string, CurveSegment[]>): TimeAccount {
  const wallMs = timeline.sessions.reduce((n, x) => n + (x.end - x.start), 0);
  let usefulTrainingMs = 0;
  let commandMs = 0;
  let inAttempts = 0;
  const lost = new Map<string, number>();
  const lose = (why: string, t: number) => {
    if (t > 0) lost.set(why, (lost.get(why) ?? 0) + t);
  };
  let servingMs = 0;
  for (const bar of timeline.bars) {
    if (bar.server) {
      servingMs += bar.end - bar.start;
      continue;
    }
    const st = s.stages[bar.key] as StageState;
    const a = st.attempts.find((x) => x.n === bar.attempt) as AttemptRecord;
    const dur = bar.end - bar.start;
    inAttempts += dur;
    const isCommand = (st.fields?.['kind'] ?? st.done?.fields['kind']) === 'command';
    if (bar.kind === 'running' || bar.kind === 'detached') {
      if (isCommand) commandMs += dur;
      else usefulTrainingMs += dur;
      continue;
    }
    const why = causeLabel(a.cause, a.outcome ?? 'stopped without a recorded end');
    if (isCommand) {
      if (bar.kind === 'finished') commandMs += dur;
      else lose(why, dur);
      continue;
    }
    const segs = segmentsByKey.get(bar.key) ?? [];
    const mine = segs.find((x) => x.attempt === bar.attempt);
    const next = segs.find((x) => x.attempt !== undefined && x.attempt > bar.attempt);
    const from = a.resumeFrom ?? 0;
    const trained = mine ? mine.lastStep - from : bar.kind === 'finished' ? 1 : 0;
    const redoneLater = next?.redone ? Math.max(0, next.redone.to - next.redone.from) : 0;
    if (trained <= 0) {
      lose(why, dur);
      continue;
    }
    const usefulShare = Math.max(0, trained - redoneLater) / trained;
    usefulTrainingMs += dur * usefulShare;
    lose(bar.kind === 'finished' ? REDONE : why, dur * (1 - usefulShare));
  }
  lose(BETWEEN, wallMs - inAttempts);
  return {
    wallMs,
    usefulTrainingMs,
    commandMs,
    servingMs,
    lost: [...lost.entries()].map(([why, t]): LostTime => ({ why, ms: t })).sort((x, y) => y.ms - x.ms),
    ...(wallMs > 0 ? { effectiveRatio: Math.min(1, usefulTrainingMs / wallMs) } : {}),
  };
}
