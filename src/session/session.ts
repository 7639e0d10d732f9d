import { closeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { Plan } from '../pipeline/plan-types.js';
import { reportAtEnd } from '../report/write.js';
import { now, type RunEvent } from '../run/events.js';
import { RunLock } from '../state/lock.js';
import type { RunState } from '../state/state.js';
import { openAppend } from '../state/run-dir.js';
import { RunStore } from '../state/store.js';
import { onOutputClosed } from '../ui/output.js';
import { chooseRenderer, type Renderer, type RendererKind } from '../ui/renderer.js';
import { redactDeep } from '../util/redact.js';
import { RunDir } from '../util/run-layout.js';
import { handleInterrupts, type Interrupts } from './interrupt.js';
import { FanOut, LogSink, StoreSink, type EventSink } from './sinks.js';

export interface SessionOptions {
  plan: Plan;
  runId: string;
  /** the state read before the lock was taken (undefined: a new run dir) */
  state: RunState | undefined;
  json: boolean;
  quiet: boolean;
  detach: boolean;
  graceSeconds: number;
}

/**
 * One invocation's hold on a run dir: the lock, the store, flux-train.log, the renderer and the
 * Ctrl-C handling, opened together and closed together. Every event goes through `emit`, which
 * fans it out to the store, the log and the renderer. Disposable: `close` gives everything back.
 */
export class RunSession {
  readonly #lock: RunLock;
  readonly store: RunStore;
  readonly logger: Logger;
  readonly renderer: Renderer;
  readonly signals: Interrupts;
  readonly #sink: EventSink;
  readonly #stopWatchingOutput: () => void;
  #finished = false;
  #current: string | undefined;

  private constructor(o: SessionOptions, lock: RunLock, kind: RendererKind, renderer: Renderer) {
    this.#lock = lock;
    this.store = new RunStore(o.plan.runDir, o.state);
    const logFile = new RunDir(o.plan.runDir).logFile;
    // opened once here so a folder in its place is bad input, not an exception from inside pino
    closeSync(openAppend(logFile, 'the flux-train log'));
    this.logger = pino({ base: { run: o.runId } }, pino.destination({ dest: logFile, sync: true, mkdir: true }));
    this.renderer = renderer;
    this.#sink = new FanOut([new StoreSink(this.store), new LogSink(this.logger), renderer]);
    this.#stopWatchingOutput = onOutputClosed((stream, code) =>
      this.logger.warn({ stream, code }, `${stream} was closed (${code}): nothing more is printed there; the run goes on and is recorded here and in events.jsonl`),
    );
    this.signals = handleInterrupts({
      detach: o.detach,
      graceSeconds: o.graceSeconds,
      tty: kind === 'tty',
      say: (m, signal) => {
        this.logger.warn({ signal }, m);
        this.renderer.notice(m);
      },
      killed: () => this.emit({ type: 'warning', ts: now(), ...(this.#current !== undefined ? { key: this.#current } : {}), message: 'second Ctrl-C: the running stage was killed at once (SIGKILL) instead of stopped gracefully' }),
      quit: () => {
        this.logger.warn('interrupt: quitting at once');
        this.store.close();
        this.#lock.release();
        this.logger.flush();
      },
    });
  }

  /** Takes the run dir's lock (throws when another CLI holds it) and opens everything else. */
  static async open(o: SessionOptions): Promise<RunSession> {
    const lock = RunLock.acquire(o.plan.runDir, `flux-train ${process.argv.slice(2).join(' ')}`);
    if (!lock.ok) throw lock.error;
    const kind = chooseRenderer({ json: o.json, quiet: o.quiet, isTTY: process.stdout.isTTY === true });
    try {
      const session = new RunSession(o, lock.value, kind, await makeRenderer(kind, o.plan));
      session.#recordTakeover(o.plan.runDir);
      return session;
    } catch (e) {
      lock.value.release();
      throw e;
    }
  }

  emit(event: RunEvent): void {
    if (event.type === 'run-finished') this.#finished = true;
    this.#sink.handle(event);
  }

  /** the stage instance running now, for the lock (a second CLI names it) and the Ctrl-C warning */
  setCurrent(key: string | undefined): void {
    this.#current = key;
    this.#lock.update(key);
  }

  /** Gives everything back; after run-finished, writes the report while the lock is still held. */
  async close(): Promise<void> {
    this.signals.dispose();
    // after run-finished is recorded and while the lock is held, so the page shows the whole run as ended
    if (this.#finished) this.renderer.footer(reportAtEnd(this.store.runDir));
    await this.renderer.end();
    this.#stopWatchingOutput();
    this.store.close();
    this.#lock.release();
    this.logger.flush();
  }

  #recordTakeover(runDir: string): void {
    const took = this.#lock.takenOver;
    if (!took) return;
    // recorded in the event log; shown once, as a warning
    const ev: RunEvent = redactDeep({ type: 'lock-takeover', ts: now(), previous: { ...(took.owner ?? {}), why: took.why } });
    this.store.record(ev);
    this.logger.warn(ev, ev.type);
    this.emit({ type: 'warning', ts: now(), message: `took over the lock of ${runDir}: ${took.why}` });
  }
}

async function makeRenderer(kind: RendererKind, plan: Plan): Promise<Renderer> {
  if (kind === 'tty') {
    const { TtyRenderer } = await import('../ui/tty.js');
    return new TtyRenderer(plan);
  }
  const { PlainRenderer, JsonRenderer } = await import('../ui/plain.js');
  return kind === 'json' ? new JsonRenderer() : new PlainRenderer(undefined, kind === 'quiet', plan.runDir);
}
