import type { Logger } from 'pino';
import type { RunEvent } from '../run/events.js';
import type { RunStore } from '../state/store.js';
import { redactDeep } from '../util/redact.js';

/**
 * A consumer of run events, like wireit's loggers: the store (event log and state file), the
 * structured log and the renderer each get every event through this one interface.
 */
export interface EventSink {
  handle(e: RunEvent): void;
}

/** events.jsonl and state.json */
export class StoreSink implements EventSink {
  constructor(readonly store: RunStore) {}
  handle(e: RunEvent): void {
    this.store.record(e);
  }
}

/** flux-train.log: every transition (progress is too frequent), failures as errors */
export class LogSink implements EventSink {
  constructor(readonly logger: Logger) {}
  handle(e: RunEvent): void {
    if (e.type === 'stage-progress') return;
    this.logger[e.type === 'stage-failed' ? 'error' : e.type === 'warning' ? 'warn' : 'info'](e, e.type);
  }
}

/** Hands each event, secrets masked once, to every sink in order: the store first, so a crash loses nothing shown. */
export class FanOut implements EventSink {
  constructor(readonly sinks: EventSink[]) {}
  handle(event: RunEvent): void {
    const e = redactDeep(event);
    for (const s of this.sinks) s.handle(e);
  }
}
