import type { RunEvent } from '../run/events.js';
import { eventLine, RunSummary } from './format.js';
import type { Renderer } from './renderer.js';

const toStdout = (l: string): void => void process.stdout.write(`${l}\n`);
const toStderr = (l: string): void => void process.stderr.write(`${l}\n`);

/** One line per event for CI and pipes; progress at most every 10% or every 30 s per stage, each step once. */
export class PlainRenderer implements Renderer {
  #lastProgress = new Map<string, { step: number; pct: number; at: number }>();
  #summary: RunSummary;
  constructor(
    private readonly write: (line: string) => void = toStdout,
    private readonly errorsOnly = false,
    runDir = '',
    private readonly say: (line: string) => void = toStderr,
  ) {
    this.#summary = new RunSummary(runDir);
  }

  handle(e: RunEvent): void {
    this.#summary.handle(e);
    // the summary waits for end(): lines that belong to the outcome (the report) come after run-finished
    if (e.type === 'run-finished') return;
    if (this.errorsOnly && e.type !== 'stage-failed' && e.type !== 'stage-blocked' && e.type !== 'checkpoint-quarantined' && e.type !== 'serve-failed') return;
    if (e.type === 'stage-progress') {
      const pct = e.total > 0 ? (e.step / e.total) * 100 : 0;
      const last = this.#lastProgress.get(e.key);
      // LLaMA-Factory logs the last step twice (the step, then the end-of-training metrics)
      if (last && e.step === last.step) return;
      if (last && pct - last.pct < 10 && Date.now() - last.at < 30_000 && e.step !== e.total) return;
      this.#lastProgress.set(e.key, { step: e.step, pct, at: Date.now() });
    }
    const line = eventLine(e);
    if (line !== undefined) this.write(line);
  }

  notice(text: string): void {
    this.say(text);
  }

  footer(line: string): void {
    this.#summary.footer(line);
  }

  async end(): Promise<void> {
    if (this.#summary.finished) for (const l of this.#summary.lines()) this.write(l);
  }
}

/** Newline-delimited JSON, one event per line (container output stays in the log files). */
export class JsonRenderer implements Renderer {
  constructor(
    private readonly write: (line: string) => void = toStdout,
    private readonly say: (line: string) => void = toStderr,
  ) {}
  handle(e: RunEvent): void {
    this.write(JSON.stringify(e));
  }
  notice(text: string): void {
    this.say(text);
  }
  footer(): void {}
  async end(): Promise<void> {}
}
