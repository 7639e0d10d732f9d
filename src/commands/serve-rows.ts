import type { RunState, ServeState } from '../state/state.js';
import { formatDuration } from '../ui/format.js';
import { RunDir } from '../util/run-layout.js';

/** One server of the run as `status` shows it (state.json `serves`, newest attempt). */
export interface ServeRow {
  key: string;
  status: ServeState['status'];
  url: string;
  servedName: string;
  /** how long GET /v1/models took to list the model, in the attempt shown */
  readyAfterMs?: number;
  /** how many times it was started over the run's life */
  starts: number;
  attempt: number;
  startedAt: string;
  readyAt?: string;
  stoppedAt?: string;
  stopReason?: string;
  failure?: string;
  log: string;
}

/** The servers in plan order: rounds in order, then the order they first started in. */
export function serveRows(s: RunState, runDir: string): ServeRow[] {
  const roundOf = (sv: ServeState) => Number(/^r(\d+)\//.exec(sv.key)?.[1] ?? 0);
  const layout = new RunDir(runDir);
  return Object.values(s.serves ?? {})
    .map((sv, i) => ({ sv, i }))
    .sort((a, b) => roundOf(a.sv) - roundOf(b.sv) || a.i - b.i)
    .map(({ sv }) => ({
      key: sv.key,
      status: sv.status,
      url: sv.url,
      servedName: sv.servedName,
      ...(sv.readyAfterMs !== undefined ? { readyAfterMs: sv.readyAfterMs } : {}),
      starts: sv.starts,
      attempt: sv.attempt,
      startedAt: sv.startedAt,
      ...(sv.readyAt !== undefined ? { readyAt: sv.readyAt } : {}),
      ...(sv.stoppedAt !== undefined ? { stoppedAt: sv.stoppedAt } : {}),
      ...(sv.stopReason !== undefined ? { stopReason: sv.stopReason } : {}),
      ...(sv.failure !== undefined ? { failure: sv.failure } : {}),
      log: layout.attemptLog(sv.key, sv.attempt),
    }));
}

/**
 * The servers section of `status`, in the stage table's style; nothing for a run without servers
 * (run dirs from before serve stages existed have no `serves` at all). A server recorded as up while
 * no flux-train runs is what a killed CLI left behind: the next `round` re-uses or stops it.
 */
export function serveLines(rows: ServeRow[], flux: { running: boolean; wide: boolean }): string {
  if (rows.length === 0) return '';
  const head = ['server', 'status', 'url', 'model', 'ready in', 'starts', ...(flux.wide ? ['log'] : []), 'note'];
  const note = (r: ServeRow): string => {
    if (r.status === 'failed') return r.failure ?? 'failed';
    if (r.status === 'stopped') return r.stopReason ?? '';
    return flux.running ? '' : 'no flux-train is running: the next round re-uses or stops it';
  };
  const table = rows.map((r) => [r.key, r.status, r.url, r.servedName, r.readyAfterMs !== undefined ? formatDuration(r.readyAfterMs) : '-', String(r.starts), ...(flux.wide ? [r.log] : []), oneLine(note(r))]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return `servers:\n${[head, ...table].map((r) => `  ${fmt(r)}`).join('\n')}\n`;
}

/** A failure message may quote a log: the table keeps one line of it. */
function oneLine(text: string): string {
  const first = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return first.length > 160 ? `${first.slice(0, 157)}...` : first;
}
