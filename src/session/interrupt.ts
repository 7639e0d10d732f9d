import { writeSync } from 'node:fs';

export interface InterruptOptions {
  detach: boolean;
  graceSeconds: number;
  /** the live view hides the cursor: give it back before leaving abruptly */
  tty: boolean;
  /** tells the person and the log, wherever the renderer can show it now */
  say: (message: string, signal: NodeJS.Signals) => void;
  /** the second Ctrl-C: record that the running stage was killed without its grace period */
  killed: () => void;
  /** the third: persist what can be persisted and release the run dir (then the process exits 130) */
  quit: () => void;
}

export interface Interrupts {
  /** first Ctrl-C or SIGTERM: stop the running job gracefully (or leave it, with --detach) */
  interrupt: AbortSignal;
  /** second: kill it now */
  kill: AbortSignal;
  dispose: () => void;
}

/**
 * One Ctrl-C semantics for every renderer: graceful stop, then kill at once, then leave at once.
 * flux-train owns SIGINT: listr2 would otherwise exit(127) and leave the job and the lock behind.
 */
export function handleInterrupts(o: InterruptOptions): Interrupts {
  const interrupt = new AbortController();
  const kill = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      o.say(
        o.detach ? 'interrupt: leaving the running stage running (detached); `flux-train resume` re-attaches' : `interrupt: stopping the running stage (SIGTERM, SIGKILL after ${o.graceSeconds}s); press Ctrl-C again to kill it now`,
        signal,
      );
      interrupt.abort();
    } else if (signals === 2 && !o.detach) {
      o.say('interrupt: second Ctrl-C, killing the running stage now (SIGKILL, no grace period); press Ctrl-C again to quit without waiting', signal);
      o.killed();
      kill.abort();
    } else {
      try {
        if (o.tty) writeSync(1, '\x1b[?25h\n');
        writeSync(2, 'interrupt: quitting at once; the stage state may be behind, rerun the same command to continue\n');
      } catch {
        // the terminal is gone
      }
      o.quit();
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    interrupt: interrupt.signal,
    kill: kill.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
