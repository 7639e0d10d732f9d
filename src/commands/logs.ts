import { existsSync, readdirSync } from 'node:fs';
import { FileTail } from '../backends/common.js';
import { join, resolve } from 'node:path';
import { stageFileName } from '../pipeline/plan.js';
import { readState } from '../state/store.js';
import { FluxError } from '../util/errors.js';
import { EXIT } from './context.js';

export interface LogsOptions {
  runDir?: string;
  follow?: boolean;
  attempt?: string;
}

/** Prints the newest attempt's log of a stage (ID for its latest round, or a key r<N>/ID); -f follows it. */
export async function logsCommand(stage: string, o: LogsOptions): Promise<number> {
  const runDir = resolve(o.runDir ?? 'runs/reasonflux-v2');
  const st = readState(runDir);
  if (!st.ok) throw st.error;
  const keys = Object.keys(st.value?.stages ?? {});
  const key = keys.includes(stage)
    ? stage
    : keys
        .filter((k) => k.endsWith(`/${stage}`))
        .sort((a, b) => Number(/^r(\d+)/.exec(b)?.[1]) - Number(/^r(\d+)/.exec(a)?.[1]))[0];
  if (!key) throw new FluxError('usage', `no stage "${stage}" in ${runDir}`, `use one of: ${keys.join(', ') || '(no stage has run yet)'}`, 2);
  const logDir = join(runDir, 'logs');
  const prefix = `${stageFileName(key)}.attempt`;
  const attempts = existsSync(logDir)
    ? readdirSync(logDir)
        .filter((f) => f.startsWith(prefix) && f.endsWith('.log'))
        .map((f) => Number(f.slice(prefix.length, -4)))
        .filter(Number.isFinite)
        .sort((a, b) => a - b)
    : [];
  const n = o.attempt !== undefined ? Number(o.attempt) : attempts[attempts.length - 1];
  if (n === undefined || !attempts.includes(n)) throw new FluxError('usage', `no log for ${key}${o.attempt ? ` attempt ${o.attempt}` : ''}`, `attempts with logs: ${attempts.join(', ') || 'none yet'}`, 2);
  const path = join(logDir, `${prefix}${n}.log`);
  const tail = new FileTail(path);
  const drain = () => tail.drain((c) => process.stdout.write(c));
  drain();
  if (!o.follow) return EXIT.ok;
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  while (!stop) {
    await new Promise((r) => setTimeout(r, 500));
    drain();
    const now = readState(runDir);
    const s = now.ok ? now.value?.stages[key] : undefined;
    if (s && s.status !== 'running') {
      drain();
      break;
    }
  }
  return EXIT.ok;
}
