import type { RunEvent } from '../run/events.js';

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function formatProgress(e: Extract<RunEvent, { type: 'stage-progress' }>): string {
  const pct = e.percentage ?? (e.total > 0 ? Math.round((e.step / e.total) * 10000) / 100 : 0);
  const parts = [`step ${e.step}/${e.total}`, `${pct.toFixed(1)}%`];
  if (e.loss !== undefined) parts.push(`loss ${e.loss.toFixed(4)}`);
  if (e.lr !== undefined) parts.push(`lr ${e.lr.toExponential(2)}`);
  if (e.remaining !== undefined) parts.push(`eta ${e.remaining}`);
  return parts.join('  ');
}

/** One human line per event, or undefined for events that are not worth a line. */
export function eventLine(e: RunEvent): string | undefined {
  switch (e.type) {
    case 'run-started':
      return `flux-train: ${e.pipelineName}, rounds 1..${e.rounds}, backend ${e.backend}, image ${e.image}`;
    case 'stage-planned':
      return undefined;
    case 'stage-skipped':
      return `${e.key}: skip (${e.reason})`;
    case 'stage-starting':
      return `${e.key}: starting attempt ${e.attempt}${e.resumeFrom !== undefined ? ` (resuming from checkpoint-${e.resumeFrom})` : ''}`;
    case 'stage-started':
      return `${e.key}: running in ${e.handle.backend} ${e.handle.name ?? e.handle.id}`;
    case 'stage-reattached':
      return `${e.key}: re-attached to attempt ${e.attempt} (${e.handle.name ?? e.handle.id}, ${e.running ? 'still running' : 'already exited'})`;
    case 'stage-progress':
      return `${e.key}: ${formatProgress(e)}`;
    case 'stage-checkpoint':
      return `${e.key}: checkpoint-${e.step} saved`;
    case 'stage-finished':
      return `${e.key}: finished in ${formatDuration(e.durationMs)}${e.finalLoss !== undefined ? `, final loss ${e.finalLoss.toFixed(4)}` : ''}`;
    case 'stage-failed':
      return `${e.key}: FAILED: ${e.message}`;
    case 'stage-interrupted':
      return e.detached ? `${e.key}: left running (detached); \`flux-train resume\` re-attaches` : `${e.key}: interrupted; rerun the same command to resume`;
    case 'stage-retry':
      return `${e.key}: retrying as attempt ${e.attempt} in ${formatDuration(e.delayMs)}${e.resumeFrom !== undefined ? ` from checkpoint-${e.resumeFrom}` : ''}`;
    case 'stage-blocked':
      return `${e.key}: blocked: ${e.reason}`;
    case 'stage-moved-aside':
      return `${e.key}: old outputs moved to ${e.to} (${e.reason})`;
    case 'checkpoint-quarantined':
      return `${e.key}: WARNING: broken ${e.path} (${e.why}) moved to ${e.to}`;
    case 'serve-starting':
      return `${e.key}: starting server attempt ${e.attempt} for ${JSON.stringify(e.servedName)} at ${e.url}`;
    case 'serve-started':
      return `${e.key}: server running in ${e.handle.backend} ${e.handle.name ?? e.handle.id}`;
    case 'serve-ready':
      return `${e.key}: serving at ${e.url} (ready in ${formatDuration(e.afterMs)})`;
    case 'serve-reused':
      return `${e.key}: re-using the server still running at ${e.url} (${e.handle.name ?? e.handle.id})`;
    case 'serve-failed':
      return `${e.key}: SERVER FAILED: ${e.message}`;
    case 'serve-stopped':
      return `${e.key}: server stopped (${e.reason})`;
    case 'lock-takeover':
      return `took over a stale lock of pid ${String(e.previous['pid'])} on ${String(e.previous['host'])}`;
    case 'warning':
      return `warning: ${e.key ? `${e.key}: ` : ''}${e.message}`;
    case 'run-finished':
      return `${e.ok ? 'done' : 'stopped'}: ${e.summary} (${formatDuration(e.durationMs)})`;
  }
}

/**
 * The lines every renderer ends with: the summary, the run dir, and what to type next (the log of
 * the stage that failed, or resume after an interruption).
 */
export class RunSummary {
  #finished: Extract<RunEvent, { type: 'run-finished' }> | undefined;
  #failed: string[] = [];
  #interrupted: { key: string; detached: boolean } | undefined;
  #notes: string[] = [];
  #footer: string[] = [];

  constructor(private readonly runDir: string) {}

  get finished(): boolean {
    return this.#finished !== undefined;
  }

  handle(e: RunEvent): void {
    if (e.type === 'run-finished') this.#finished = e;
    else if (e.type === 'stage-failed' && !e.willRetry) this.#failed.push(e.key);
    else if (e.type === 'stage-interrupted') this.#interrupted = { key: e.key, detached: e.detached };
  }

  note(text: string): void {
    this.#notes.push(text);
  }

  /** a line that belongs to the outcome (the report's path), printed under the summary line */
  footer(text: string): void {
    this.#footer.push(text);
  }

  lines(): string[] {
    const out = [...this.#notes];
    const f = this.#finished;
    if (f) out.push(`${f.ok ? 'done' : 'stopped'}: ${f.summary} (${formatDuration(f.durationMs)})`);
    out.push(...this.#footer);
    out.push(`run dir: ${this.runDir}`);
    const dir = shellWord(this.runDir);
    const failed = this.#failed[0];
    if (failed !== undefined) out.push(`next: flux-train logs ${failed} --run-dir ${dir}`);
    else if (this.#interrupted) out.push(`next: flux-train resume --run-dir ${dir}${this.#interrupted.detached ? ' (re-attaches to the running stage)' : ''}`);
    return out;
  }
}

/** A path as one shell word, so a printed command can be pasted. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
