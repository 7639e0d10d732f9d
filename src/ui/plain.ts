import type { RunEvent } from '../run/events.js';
import { eventLine } from './format.js';
import type { Renderer } from './renderer.js';

/** One line per event for CI and pipes; progress at most every 10% or every 30 s per stage. */
export class PlainRenderer implements Renderer {
  #lastProgress = new Map<string, { pct: number; at: number }>();
  constructor(
    private readonly write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
    private readonly errorsOnly = false,
  ) {}

  handle(e: RunEvent): void {
    if (this.errorsOnly && e.type !== 'stage-failed' && e.type !== 'run-finished' && e.type !== 'stage-blocked' && e.type !== 'checkpoint-quarantined') return;
    if (e.type === 'stage-progress') {
      const pct = e.total > 0 ? (e.step / e.total) * 100 : 0;
      const last = this.#lastProgress.get(e.key);
      if (last && pct - last.pct < 10 && Date.now() - last.at < 30_000 && e.step !== e.total) return;
      this.#lastProgress.set(e.key, { pct, at: Date.now() });
    }
    const line = eventLine(e);
    if (line !== undefined) this.write(line);
  }

  async end(): Promise<void> {}
}

/** Newline-delimited JSON, one event per line (container output stays in the log files). */
export class JsonRenderer implements Renderer {
  constructor(private readonly write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {}
  handle(e: RunEvent): void {
    this.write(JSON.stringify(e));
  }
  async end(): Promise<void> {}
}
