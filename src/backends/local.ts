import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { execa } from 'execa';
import type { Backend, FollowOptions, JobExit, JobPlace, JobSpec, LiveJob, StartFailure } from './backend.js';
import { checkInputsAndDisk } from './common.js';
import { JobTree } from './job-tree.js';
import type { JobStage, Plan, PlanStage } from '../pipeline/plan-types.js';
import type { GpuSpec } from '../pipeline/schema.js';
import type { JobHandleRecord, LocalProcess } from '../run/events.js';
import { checkFolder, ensureDir } from '../state/run-dir.js';
import { RunDir } from '../util/run-layout.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FluxError } from '../util/errors.js';
import { procStartTime, sameProcessAlive } from '../util/proc.js';
import { err, ok, type Result } from '../util/result.js';

export interface LocalBackendOptions {
  /** a venv or conda env holding llamafactory-cli; absent: llamafactory-cli on PATH */
  env?: string | undefined;
  warn: (m: string) => void;
  skipDiskCheck?: boolean;
  pollMs?: number;
}

/**
 * The wrapper records the exit status in a file, so that a CLI that did not spawn the process (after
 * a restart) can still learn how it ended. TERM/INT are forwarded to the trainer, which gets the
 * chance to exit cleanly; the wrapper waits for it.
 */
const WRAPPER = `"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
  wait "$child"; code=$?
  kill -0 "$child" 2>/dev/null || break
done
printf '%s\\n' "$code" > "$FLUX_EXIT_FILE.tmp" && mv "$FLUX_EXIT_FILE.tmp" "$FLUX_EXIT_FILE"
exit "$code"`;

interface JobRecord {
  pid: number;
  startTime?: number;
  attempt: number;
  fingerprint: string;
  exitFile: string;
  logPath: string;
  key: string;
  runId: string;
}

function isTrustedRecord(r: unknown): r is JobRecord {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as Record<string, unknown>;
  return (
    Number.isInteger(x['pid']) && (x['pid'] as number) > 1 && typeof x['startTime'] === 'number' && Number.isInteger(x['attempt']) && typeof x['runId'] === 'string' && typeof x['fingerprint'] === 'string'
  );
}

/** how often (in polls) follow() walks the job's process tree again for new workers */
const TREE_EVERY_POLLS = 10;

export function cudaVisibleDevices(g: GpuSpec): string | undefined {
  if (g === 'all') return undefined;
  if (g === 'none') return '';
  if (typeof g === 'number') return Array.from({ length: g }, (_, i) => i).join(',');
  return g;
}

/** Runs stages as host processes in their own process group; they outlive the CLI like detached containers. */
export class LocalBackend implements Backend {
  readonly name = 'local' as const;
  /** the process trees of the jobs this CLI follows, by wrapper pid: stop() signals them too */
  readonly #trees = new Map<number, JobTree>();

  constructor(
    readonly plan: Plan,
    readonly opts: LocalBackendOptions,
  ) {}

  #binDir(): string | undefined {
    return this.opts.env ? join(this.opts.env, 'bin') : undefined;
  }

  #resolveCommand(cmd: string[]): string[] {
    const bin = this.#binDir();
    if (bin && cmd[0] && existsSync(join(bin, cmd[0]))) return [join(bin, cmd[0]), ...cmd.slice(1)];
    return cmd;
  }

  async connect(): Promise<Result<void, FluxError>> {
    return ok(undefined);
  }

  async preflight(plan: Plan, toRun: PlanStage[]): Promise<Result<string[], FluxError>> {
    if (toRun.some((s) => s.kind === 'train')) {
      const bin = this.#binDir();
      const found = bin ? existsSync(join(bin, 'llamafactory-cli')) : (process.env['PATH'] ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'llamafactory-cli')));
      if (!found) {
        return err(
          new FluxError(
            'no-llamafactory',
            bin ? `no llamafactory-cli in ${bin} (the LLaMA-Factory environment given by --local-env / local.env)` : 'llamafactory-cli is not on PATH',
            'create the environment with `bash scripts/setup-llamafactory-venv.sh` and pass --local-env .cache/llamafactory-venv, or activate your own venv/conda env',
            'environment',
          ),
        );
      }
    }
    const inputs = checkInputsAndDisk(plan, toRun, this.opts.skipDiskCheck ?? false);
    if (!inputs.ok) return inputs;
    return ok([]);
  }

  #recordPath(runDir: string, key: string, attempt: number): string {
    return new RunDir(runDir).attemptPidFile(key, attempt);
  }

  async start(job: JobSpec): Promise<Result<JobHandleRecord, StartFailure>> {
    const s = job.stage;
    ensureDir(dirname(job.logPath), 'logs folder');
    const exitFile = new RunDir(job.runDir).attemptExitFile(s.key, job.attempt);
    const env: Record<string, string> = { ...s.env, FLUX_EXIT_FILE: exitFile };
    const bin = this.#binDir();
    if (bin) env['PATH'] = `${bin}${delimiter}${process.env['PATH'] ?? ''}`;
    const cvd = cudaVisibleDevices(job.gpus ?? s.gpus);
    if (cvd !== undefined) env['CUDA_VISIBLE_DEVICES'] = cvd;
    const fd = openSync(job.logPath, 'a');
    try {
      const args: string[] = ['-c', WRAPPER, 'flux-wrapper', ...this.#resolveCommand(s.command)];
      const child = execa('/bin/sh', args, {
        cwd: s.workdir,
        env,
        extendEnv: true,
        detached: true,
        cleanup: false,
        stdin: 'ignore',
        // execa's types only list fds 3..9; any open fd works at run time (it is handed to spawn)
        stdout: fd as 3,
        stderr: fd as 3,
        reject: false,
      });
      const pid = child.pid;
      if (pid === undefined) {
        const r = await child;
        return err({ message: `could not start ${s.command[0]}: ${'message' in r ? String(r.message) : 'unknown error'}` });
      }
      // the CLI must not wait for (or be kept alive by) the training process
      child.unref();
      child.catch(() => undefined);
      const startTime = procStartTime(pid);
      const rec: JobRecord = { pid, ...(startTime !== undefined ? { startTime } : {}), attempt: job.attempt, fingerprint: job.fingerprint, exitFile, logPath: job.logPath, key: s.key, runId: job.runId };
      writeFileAtomic(this.#recordPath(job.runDir, s.key, job.attempt), `${JSON.stringify(rec)}\n`);
      return ok({ backend: 'local', id: String(pid), process: { pid, ...(startTime !== undefined ? { startTime } : {}) }, name: `pid ${pid}` });
    } finally {
      closeSync(fd);
    }
  }

  async findJob(runId: string, stage: JobStage): Promise<LiveJob | undefined> {
    const layout = new RunDir(this.plan.runDir);
    const dir = layout.logsDir;
    checkFolder(dir, 'logs folder');
    if (!existsSync(dir)) return undefined;
    const prefix = layout.attemptPrefix(stage.key);
    const recs = readdirSync(dir)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.pid.json'))
      .map((f) => {
        try {
          return JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown;
        } catch {
          return undefined;
        }
      })
      // a record without a start time (or naming pid <= 1) cannot be told from an unrelated process: never trusted
      .filter((r): r is JobRecord => isTrustedRecord(r) && r.runId === runId)
      .sort((a, b) => b.attempt - a.attempt);
    const r = recs[0];
    if (!r) return undefined;
    const proc = { pid: r.pid, ...(r.startTime !== undefined ? { startTime: r.startTime } : {}) };
    // a worker in its own session outlives the wrapper: while one lives, the job still runs
    const strays = new JobTree(proc, layout.attemptTreeFile(stage.key, r.attempt)).alive();
    return {
      handle: { backend: 'local', id: String(r.pid), process: proc, name: `pid ${r.pid}` },
      stopCommand: `kill -TERM -${r.pid}${strays.map((p) => ` ${p.pid}`).join('')}`,
      running: sameProcessAlive(r.pid, r.startTime) || strays.length > 0,
      attempt: r.attempt,
      fingerprint: r.fingerprint,
    };
  }

  async follow(handle: JobHandleRecord, job: JobSpec, opts: FollowOptions): Promise<JobExit> {
    const { pid, startTime } = processOf(handle);
    const exitFile = new RunDir(job.runDir).attemptExitFile(job.stage.key, job.attempt);
    const poll = this.opts.pollMs ?? 300;
    const tree = new JobTree(processOf(handle), new RunDir(job.runDir).attemptTreeFile(job.stage.key, job.attempt));
    this.#trees.set(pid, tree);
    tree.refresh();
    // the job has ended when the wrapper has and no process it spawned (a worker in its own session) is left
    for (let polls = 1; (sameProcessAlive(pid, startTime) && !existsSync(exitFile)) || tree.alive().length > 0; polls++) {
      if (opts.signal?.aborted) return { kind: 'detached' };
      await new Promise((r) => setTimeout(r, poll));
      if (polls % TREE_EVERY_POLLS === 0) tree.refresh();
    }
    // the wrapper writes the exit file just before it exits
    for (let i = 0; i < 20 && !existsSync(exitFile) && sameProcessAlive(pid, startTime); i++) await new Promise((r) => setTimeout(r, 100));
    if (existsSync(exitFile)) {
      const code = Number(readFileSync(exitFile, 'utf8').trim());
      return { kind: 'exited', exitCode: Number.isFinite(code) ? code : null, oomKilled: false };
    }
    // no exit file: the wrapper itself was killed (SIGKILL to the group, OOM killer)
    return { kind: 'exited', exitCode: 137, oomKilled: false };
  }

  /**
   * Stops the wrapper's process group and every process it spawned, those in a session of their
   * own included: SIGTERM, then SIGKILL to whatever is left after the grace period.
   */
  async stop(handle: JobHandleRecord, graceSeconds: number): Promise<void> {
    const { pid, startTime } = processOf(handle);
    const tree = this.#trees.get(pid) ?? new JobTree(processOf(handle), undefined);
    // walked before any signal: once the wrapper is gone, nothing links an orphaned worker to it
    tree.refresh();
    // only a process whose pid and start time both match our record is ever signalled
    const running = () => sameProcessAlive(pid, startTime) || tree.alive().length > 0;
    if (!running()) return;
    signalGroup(pid, startTime, 'SIGTERM');
    tree.signal('SIGTERM');
    const deadline = Date.now() + graceSeconds * 1000;
    while (Date.now() < deadline && running()) await new Promise((r) => setTimeout(r, 100));
    signalGroup(pid, startTime, 'SIGKILL');
    tree.signal('SIGKILL');
  }

  /** jobs run on this host, on its network (docker: network host, which serve stages require) */
  async placeOf(): Promise<JobPlace> {
    return { kind: 'at', address: '127.0.0.1' };
  }

  async release(): Promise<void> {}
}

/** Signals a wrapper's process group, only while the wrapper is provably the process recorded. */
function signalGroup(pid: number, startTime: number | undefined, sig: NodeJS.Signals): void {
  if (!sameProcessAlive(pid, startTime)) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // gone
  }
}

/** The process behind a handle; a handle of another backend names no process of ours but its id. */
function processOf(h: JobHandleRecord): LocalProcess {
  return h.backend === 'local' ? h.process : { pid: Number(h.id) };
}
