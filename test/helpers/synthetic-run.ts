import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CauseCode } from '../../src/run/causes.js';
import { isTransition, type RunEvent } from '../../src/run/events.js';
import { emptyState, reduce } from '../../src/state/state.js';

/** A fault in one attempt: it stops after logging `at`, and the next attempt resumes from `checkpoint`. */
export interface SyntheticFault {
  key: string;
  at: number;
  checkpoint?: number;
  cause: CauseCode;
}

export interface SyntheticRunSpec {
  rounds: number;
  /** logged steps per stage instance (logging_steps = 1) */
  steps: number;
  ids?: string[];
  faults?: SyntheticFault[];
  /** wall-clock ms per step, for timestamps */
  stepMs?: number;
  /** leave the last stage instance running (no end, no run-finished) */
  unfinished?: boolean;
  /** fields per stage key, merged over the defaults (e.g. a changed learning rate) */
  fields?: (key: string, round: number, id: string) => Record<string, string>;
}

/**
 * Writes a run dir as flux-train would: events.jsonl (transitions), state.json (the fold of every
 * event, progress included, through the real reducer) and one trainer_log.jsonl per output dir,
 * appended to on resume as LLaMA-Factory does. For the report's unit tests and its size benchmark.
 */
export function syntheticRun(spec: SyntheticRunSpec, dir = mkdtempSync(join(tmpdir(), 'flux-synth-'))): string {
  const ids = spec.ids ?? ['proposer_sft', 'proposer_dpo', 'reasoner_dpo'];
  const stepMs = spec.stepMs ?? 1000;
  let t = Date.parse('2026-03-01T08:00:00Z');
  const ts = () => new Date(t).toISOString();
  const state = emptyState();
  mkdirSync(dir, { recursive: true });
  const eventsPath = join(dir, 'events.jsonl');
  writeFileSync(eventsPath, '');
  const emit = (e: RunEvent) => {
    reduce(state, e);
    if (isTransition(e)) appendFileSync(eventsPath, `${JSON.stringify(e)}\n`);
  };
  emit({ type: 'run-started', ts: ts(), runId: 'synthetic0000', pipeline: 'pipelines/synthetic.yaml', pipelineName: 'synthetic', rounds: spec.rounds, backend: 'docker', image: 'img', pid: 1, host: 'h', argv: [] });
  const keys: { key: string; round: number; id: string }[] = [];
  for (let r = 1; r <= spec.rounds; r++) for (const id of ids) keys.push({ key: `r${r}/${id}`, round: r, id });
  const fieldsOf = (key: string, round: number, id: string, i: number): Record<string, string> => ({
    kind: 'train',
    image: 'img',
    'args.learning_rate': '0.00001',
    'args.dataset': `["data_${id}"]`,
    [`dataset.data_${id}`]: round === 1 ? 'stat:abc' : `from:r${round - 1}/${id}`,
    model: round === 1 ? (i === 0 ? 'base:/models/tiny' : `stage:r1/${ids[0]}`) : `stage:r${round - 1}/${id}`,
    ...(round > 1 ? { [`dep.r${round - 1}/${id}`]: 'f' } : {}),
    ...(spec.fields?.(key, round, id) ?? {}),
  });
  for (const { key, round, id } of keys) {
    const fields = fieldsOf(key, round, id, ids.indexOf(id));
    emit({ type: 'stage-planned', ts: ts(), key, action: 'run', reason: 'new', fingerprint: 'f', fields });
  }
  for (const [k, { key, round, id }] of keys.entries()) {
    const fields = fieldsOf(key, round, id, ids.indexOf(id));
    const out = join(dir, 'outputs', `r${round}`, id);
    mkdirSync(out, { recursive: true });
    mkdirSync(join(dir, 'configs'), { recursive: true });
    writeFileSync(join(dir, 'configs', `${key.replace('/', '-')}.yaml`), `learning_rate: ${fields['args.learning_rate']}\n`);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const log = join(out, 'trainer_log.jsonl');
    const lines: string[] = [];
    const faults = (spec.faults ?? []).filter((f) => f.key === key);
    let attempt = 1;
    let from = 0;
    const last = spec.unfinished === true && k === keys.length - 1;
    for (;;) {
      const fault = faults[attempt - 1];
      emit({ type: 'stage-starting', ts: ts(), key, attempt, fingerprint: 'f', fields, ...(from > 0 ? { resumeFrom: from } : {}) });
      t += 2000;
      emit({ type: 'stage-started', ts: ts(), key, attempt, handle: { backend: 'docker', id: `c${k}${attempt}` } });
      writeFileSync(join(dir, 'logs', `${key.replace('/', '-')}.attempt${attempt}.log`), 'log\n');
      // like flux-train, a new attempt's log tail starts at the top of the appended file
      for (const l of lines) {
        const r = JSON.parse(l) as { current_steps: number; total_steps: number };
        emit({ type: 'stage-progress', ts: ts(), key, step: r.current_steps, total: r.total_steps });
      }
      const end = fault ? fault.at : last ? Math.floor(spec.steps / 2) : spec.steps;
      for (let s = from + 1; s <= end; s++) {
        t += stepMs;
        const loss = 2 / (1 + s * 0.01) + 0.05 * Math.sin(s / 7) + round * 0.01;
        const lr = 1e-5 * Math.cos((Math.PI / 2) * (s / spec.steps));
        lines.push(JSON.stringify({ current_steps: s, total_steps: spec.steps, loss: +loss.toFixed(4), lr, epoch: s / spec.steps, percentage: (s * 100) / spec.steps, elapsed_time: '0:00:01', remaining_time: '0:00:01' }));
        emit({ type: 'stage-progress', ts: ts(), key, step: s, total: spec.steps, loss, lr });
      }
      if (last) break;
      if (fault) {
        emit({ type: 'stage-failed', ts: ts(), key, attempt, cause: fault.cause, transient: true, exitCode: 1, oomKilled: false, shortMessage: `${key} attempt ${attempt}: ${fault.cause} at step ${fault.at}`, message: 'long', evidence: [], step: fault.at, willRetry: true });
        t += 5000;
        from = fault.checkpoint ?? 0;
        emit({ type: 'stage-retry', ts: ts(), key, attempt: attempt + 1, delayMs: 5000, ...(from > 0 ? { resumeFrom: from } : {}) });
        attempt++;
        continue;
      }
      lines.push(JSON.stringify({ current_steps: spec.steps, total_steps: spec.steps, epoch: 1, percentage: 100, elapsed_time: '0:00:01', remaining_time: '0:00:00' }));
      emit({ type: 'stage-finished', ts: ts(), key, attempt, durationMs: 1, fingerprint: 'f', fields, manifest: [], steps: spec.steps });
      t += 1000;
      break;
    }
    writeFileSync(log, lines.length > 0 ? `${lines.join('\n')}\n` : '');
    if (last) break;
  }
  if (spec.unfinished !== true) emit({ type: 'run-finished', ts: ts(), ok: true, exitCode: 0, durationMs: 1, summary: 'ok' });
  writeFileSync(join(dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  return dir;
}
