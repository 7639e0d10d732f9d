/**
 * A closed stdout or stderr (`flux-train round | head`, a pipe whose reader died on Ctrl-C, a closed
 * terminal) must never crash a run: output stops, the job and the log files carry on. Node reports
 * such a write as an 'error' event, which crashes the process when nobody listens.
 */
export type StreamName = 'stdout' | 'stderr';

const closed = new Map<StreamName, string>();
const listeners: ((stream: StreamName, code: string) => void)[] = [];
let installed = false;

const GONE = new Set(['EPIPE', 'EIO', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

export function installOutputGuards(): void {
  if (installed) return;
  installed = true;
  for (const name of ['stdout', 'stderr'] as const) {
    process[name].on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'unknown';
      // anything else is as fatal as before: rethrowing out of an 'error' listener reaches uncaughtException
      if (!GONE.has(code)) throw e;
      if (closed.has(name)) return;
      closed.set(name, code);
      for (const l of listeners) l(name, code);
    });
  }
}

export function outputClosed(name: StreamName): boolean {
  return closed.has(name);
}

/** Called once per stream that goes away; returns a function that removes the listener. */
export function onOutputClosed(l: (stream: StreamName, code: string) => void): () => void {
  listeners.push(l);
  for (const [name, code] of closed) l(name, code);
  return () => {
    const i = listeners.indexOf(l);
    if (i >= 0) listeners.splice(i, 1);
  };
}
