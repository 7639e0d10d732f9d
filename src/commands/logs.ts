import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { closest, distance } from 'fastest-levenshtein';
import { resolve } from 'node:path';
import { loadPipeline } from '../pipeline/load.js';
import { StreamRedactor, useSecrets } from '../util/redact.js';
import { FileTail } from '../util/file-tail.js';
import { RunDir } from '../util/run-layout.js';
import { readOwner } from '../state/lock.js';
import { checkFolder } from '../state/run-dir.js';
import { readEvents, readState } from '../state/store.js';
import { sameProcessAlive } from '../util/proc.js';
import { FluxError } from '../util/errors.js';
import { EXIT, resolveRunDir } from './context.js';

export interface LogsOptions {
  runDir?: string;
  pipeline?: string;
  follow?: boolean;
  attempt?: number;
}

const roundOf = (k: string): number => Number(/^r(\d+)\//.exec(k)?.[1] ?? 0);

/** The key a name means: a key as is, an id for its latest round; otherwise a usage error with the nearest name. */
export function resolveStageKey(name: string, keys: string[], runDir: string): string {
  if (keys.includes(name)) return name;
  const byId = keys.filter((k) => k.endsWith(`/${name}`)).sort((a, b) => roundOf(b) - roundOf(a))[0];
  if (byId) return byId;
  const names = [...new Set([...keys, ...keys.map((k) => k.replace(/^r\d+\//, ''))])];
  const near = names.length > 0 ? closest(name, names) : undefined;
  const hint = near !== undefined && distance(name, near) <= Math.max(2, Math.floor(near.length / 3)) ? `did you mean ${near}? ` : '';
  throw new FluxError('usage', `no stage "${name}" in ${runDir}`, `${hint}stages: ${names.join(', ') || '(none planned yet)'}`, 'bad-input');
}

function attemptsWithLogs(layout: RunDir, key: string): number[] {
  const logDir = layout.logsDir;
  const prefix = layout.attemptPrefix(key);
  checkFolder(logDir, 'logs folder');
  if (!existsSync(logDir)) return [];
  return readdirSync(logDir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.log'))
    .map((f) => Number(f.slice(prefix.length, -4)))
    .filter(Number.isInteger)
    .sort((a, b) => a - b);
}

/**
 * Adds the run's own secrets to what is masked: the pipeline's pass_env and its stages' env values,
 * which round masks too but which need not look like secrets by name (MY_CRED). Without a readable
 * pipeline only secret-looking environment variables are masked, and it says so.
 */
function useRunSecrets(runDir: string, recorded: string | undefined): void {
  const started = readEvents(runDir).events.flatMap((e) => (e.type === 'run-started' ? [e] : [])).at(-1);
  const path = started?.pipelinePath ?? (recorded !== undefined ? resolve(started?.cwd ?? '.', recorded) : undefined);
  const p = path !== undefined ? loadPipeline(path) : undefined;
  if (p?.ok) useSecrets(p.value.spec.docker.pass_env, p.value.spec.stages.map((s) => s.env));
  else if (path !== undefined) process.stderr.write(`note: the run's pipeline ${path} cannot be read, so only secret-looking environment variables are masked, not its pass_env\n`);
}

/** Prints the newest attempt's log of a stage (ID for its latest round, or a key r<N>/ID); -f follows it, and waits for it to start. */
export async function logsCommand(stage: string, o: LogsOptions): Promise<number> {
  const runDir = resolveRunDir(o);
  const st = readState(runDir);
  if (!st.ok) throw st.error;
  if (!st.value) throw new FluxError('no-run', `no flux-train run in ${runDir} (no state.json)`, 'pass the run dir with --run-dir, or start a run with `flux-train round --n N`', 'bad-input');
  const key = resolveStageKey(stage, [...Object.keys(st.value.stages), ...Object.keys(st.value.serves ?? {})], runDir); // a server's log is an attempt log too
  useRunSecrets(runDir, st.value.pipeline);
  const layout = new RunDir(runDir);
  const pathOf = (n: number) => layout.attemptLog(key, n);
  // the header goes to stderr: a person sees which file this is, a pipe gets the log alone
  const header = (n: number) => process.stderr.write(`==> ${key}, attempt ${n}: ${pathOf(n)} <==\n`);

  let attempts = attemptsWithLogs(layout, key);
  if (o.attempt !== undefined && !attempts.includes(o.attempt)) {
    throw new FluxError('usage', `no log for ${key} attempt ${o.attempt}`, `attempts with logs: ${attempts.join(', ') || 'none yet'}`, 'bad-input');
  }
  let stop = false;
  const onSigint = () => {
    stop = true;
  };
  process.once('SIGINT', onSigint);
  try {
    if (attempts.length === 0) {
      if (!o.follow) throw new FluxError('usage', `no log for ${key} yet: it has not started`, `follow it from its start with \`flux-train logs ${key} -f\``, 'bad-input');
      process.stderr.write(`waiting for ${key} to start (Ctrl-C to stop waiting)\n`);
      while (!stop && attempts.length === 0) {
        await new Promise((r) => setTimeout(r, 500));
        attempts = attemptsWithLogs(layout, key);
      }
      if (stop) return EXIT.ok;
    }
    let n = o.attempt ?? (attempts[attempts.length - 1] as number);
    header(n);
    let tail = new FileTail(pathOf(n));
    // a job's own log (local, Slurm) may hold a secret it printed: what flux-train prints never does
    let red = new StreamRedactor();
    const flush = () => {
      const rest = red.end();
      if (rest) process.stdout.write(rest);
    };
    const drain = () =>
      tail.drain((c) => {
        const text = red.push(c);
        if (text) process.stdout.write(text);
      });
    drain();
    if (!o.follow) {
      flush();
      return EXIT.ok;
    }
    while (!stop) {
      await new Promise((r) => setTimeout(r, 500));
      drain();
      // a retry writes a new attempt's log: follow it
      const newest = attemptsWithLogs(layout, key).at(-1);
      if (o.attempt === undefined && newest !== undefined && newest > n) {
        flush();
        n = newest;
        header(n);
        tail = new FileTail(pathOf(n));
        red = new StreamRedactor();
        drain();
        continue;
      }
      const now = readState(runDir);
      const s = now.ok ? now.value?.stages[key] : undefined;
      // between a failed attempt and its retry the stage is "failed" while flux-train still works on it
      const owner = readOwner(new RunDir(runDir).lockFile);
      const busy = owner !== undefined && owner.current === key && (owner.host !== hostname() || sameProcessAlive(owner.pid, owner.startTime));
      if (s && s.status !== 'running' && s.status !== 'pending' && !busy) {
        drain();
        break;
      }
    }
    flush();
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
