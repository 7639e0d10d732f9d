import { z } from 'zod';

/**
 * The shapes of what flux-train reads back from a run dir (state.json, events.jsonl, lock.json).
 * Those files are edited, truncated and copied by people and tools: nothing is trusted until it
 * passed these schemas, so a wrong shape is an error value naming the way out, never a crash.
 */

/** r<round>/<stage id>; refuses __proto__ and friends as keys by construction */
export const STAGE_KEY = /^r[0-9]{1,9}\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const key = z.string().regex(STAGE_KEY, 'not a stage key such as r1/proposer_sft');
const int = z.number().int();
const count = z.number().int().nonnegative();
const num = z.number();
const fields = z.record(z.string(), z.string());

export const manifestEntrySchema = z.object({ name: z.string(), size: count });

const localProcessSchema = z.object({ pid: int, startTime: num.optional() });

/** A job handle; one written before handles were tagged (pid and startTime flat) reads as today's `process`. */
export const jobHandleSchema = z
  .looseObject({
    backend: z.string(),
    id: z.string(),
    name: z.string().optional(),
    process: localProcessSchema.optional(),
    pid: int.optional(),
    startTime: num.optional(),
  })
  .transform(({ pid, startTime, ...h }) =>
    h.backend === 'local' && h.process === undefined && pid !== undefined ? { ...h, process: { pid, ...(startTime !== undefined ? { startTime } : {}) } } : h,
  );

const attemptSchema = z.looseObject({
  n: int.min(1),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  handle: jobHandleSchema.optional(),
  resumeFrom: count.optional(),
  gpus: z.string().optional(),
  firstStep: count.optional(),
  lastStep: count.optional(),
  exitCode: num.nullable().optional(),
  oomKilled: z.boolean().optional(),
  cause: z.string().optional(),
  message: z.string().optional(),
  outcome: z.enum(['finished', 'failed', 'interrupted', 'detached']).optional(),
  stepsLost: count.optional(),
});

const metricsSchema = z.record(z.string(), z.record(z.string(), num));

const doneSchema = z.looseObject({
  fingerprint: z.string(),
  fields,
  manifest: z.array(manifestEntrySchema),
  finishedAt: z.string(),
  finalLoss: num.optional(),
  steps: count.optional(),
  durationMs: num,
  metrics: metricsSchema.optional(),
});

const stageSchema = z.looseObject({
  key,
  status: z.enum(['pending', 'running', 'done', 'failed', 'interrupted', 'blocked', 'skipped']),
  fingerprint: z.string().optional(),
  fields: fields.optional(),
  // a hand-written or older state may leave out lists the fold always creates; null or 5 is still wrong
  attempts: z.array(attemptSchema).default([]),
  done: doneSchema.optional(),
  progress: z.looseObject({ step: count, total: count, loss: num.optional(), lr: num.optional(), updatedAt: z.string() }).optional(),
  checkpoint: count.optional(),
  lastCause: z.string().optional(),
  lastMessage: z.string().optional(),
  blockedReason: z.string().optional(),
});

const serveSchema = z.looseObject({
  key,
  status: z.enum(['starting', 'ready', 'stopped', 'failed']),
  attempt: int.min(1),
  servedName: z.string(),
  fingerprint: z.string(),
  port: int.min(0).max(65535),
  url: z.string(),
  startedAt: z.string(),
  handle: jobHandleSchema.optional(),
  gpus: z.string().optional(),
  readyAt: z.string().optional(),
  readyAfterMs: num.optional(),
  stoppedAt: z.string().optional(),
  stopReason: z.string().optional(),
  failure: z.string().optional(),
  starts: count,
});

export const runStateSchema = z.looseObject({
  schema: int.min(1),
  runId: z.string().optional(),
  pipeline: z.string().optional(),
  pipelineName: z.string().optional(),
  rounds: int.min(1).optional(),
  backend: z.string().optional(),
  image: z.string().optional(),
  argv: z.array(z.string()).optional(),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
  sessions: z
    .array(z.looseObject({ startedAt: z.string(), endedAt: z.string().optional(), pid: int, host: z.string(), ok: z.boolean().optional(), durationMs: num.optional() }))
    .default([]),
  stages: z.record(key, stageSchema),
  serves: z.record(key, serveSchema).optional(),
});

/** pid <= 1 is never a flux-train (0, -1 and 1 would signal a group, everything, or init) */
export const lockOwnerSchema = z.object({
  pid: int.min(2),
  host: z.string().min(1),
  startTime: num.optional(),
  startedAt: z.string(),
  heartbeat: z.string(),
  command: z.string(),
  current: z.string().optional(),
});

const ts = z.string();
const attemptNo = int.min(1);
export const runEventSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('run-started'), ts, runId: z.string(), pipeline: z.string(), pipelinePath: z.string().optional(), cwd: z.string().optional(), pipelineName: z.string(), rounds: int.min(1), backend: z.string(), image: z.string(), pid: int, host: z.string(), argv: z.array(z.string()) }),
  z.looseObject({ type: z.literal('stage-planned'), ts, key, action: z.enum(['skip', 'run', 'rerun', 'resume', 'reattach', 'blocked']), reason: z.string() }),
  z.looseObject({ type: z.literal('stage-skipped'), ts, key, reason: z.string() }),
  z.looseObject({ type: z.literal('stage-starting'), ts, key, attempt: attemptNo, fingerprint: z.string(), fields, resumeFrom: count.optional(), gpus: z.string().optional() }),
  z.looseObject({ type: z.literal('stage-started'), ts, key, attempt: attemptNo, handle: jobHandleSchema }),
  z.looseObject({ type: z.literal('stage-reattached'), ts, key, attempt: attemptNo, handle: jobHandleSchema, running: z.boolean() }),
  z.looseObject({ type: z.literal('stage-progress'), ts, key, step: count, total: count, loss: num.optional(), lr: num.optional() }),
  z.looseObject({ type: z.literal('stage-checkpoint'), ts, key, step: count }),
  z.looseObject({ type: z.literal('stage-finished'), ts, key, attempt: attemptNo, durationMs: num, finalLoss: num.optional(), steps: count.optional(), fingerprint: z.string(), fields, manifest: z.array(manifestEntrySchema), metrics: metricsSchema.optional() }),
  z.looseObject({ type: z.literal('stage-failed'), ts, key, attempt: attemptNo, cause: z.string(), exitCode: num.nullable(), oomKilled: z.boolean(), shortMessage: z.string(), step: count.optional() }),
  z.looseObject({ type: z.literal('stage-interrupted'), ts, key, attempt: attemptNo, detached: z.boolean() }),
  z.looseObject({ type: z.literal('stage-retry'), ts, key }),
  z.looseObject({ type: z.literal('stage-blocked'), ts, key, reason: z.string() }),
  z.looseObject({ type: z.literal('stage-moved-aside'), ts, key }),
  z.looseObject({ type: z.literal('checkpoint-quarantined'), ts, key }),
  z.looseObject({ type: z.literal('serve-starting'), ts, key, attempt: attemptNo, port: int.min(0).max(65535), url: z.string(), servedName: z.string(), fingerprint: z.string(), gpus: z.string().optional() }),
  z.looseObject({ type: z.literal('serve-started'), ts, key, attempt: attemptNo, handle: jobHandleSchema }),
  z.looseObject({ type: z.literal('serve-ready'), ts, key, attempt: attemptNo, url: z.string(), afterMs: num }),
  z.looseObject({ type: z.literal('serve-reused'), ts, key, attempt: attemptNo, url: z.string(), handle: jobHandleSchema }),
  z.looseObject({ type: z.literal('serve-failed'), ts, key, attempt: attemptNo, reason: z.enum(['timeout', 'died', 'start-failed']), message: z.string(), evidence: z.array(z.string()) }),
  z.looseObject({ type: z.literal('serve-stopped'), ts, key, attempt: attemptNo, reason: z.string() }),
  z.looseObject({ type: z.literal('lock-takeover'), ts }),
  z.looseObject({ type: z.literal('warning'), ts, message: z.string() }),
  z.looseObject({ type: z.literal('run-finished'), ts, ok: z.boolean(), exitCode: int, durationMs: num }),
]);

/** The first problem of a failed parse, as `at stages.r1/x.attempts: expected array, received null`. */
export function firstIssue(e: z.ZodError): string {
  const i = e.issues[0];
  if (!i) return 'wrong shape';
  const where = i.path.length > 0 ? i.path.map(String).join('.') : '(top level)';
  return `at ${where}: ${i.message}`;
}
