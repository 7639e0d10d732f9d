import { join } from 'node:path';

/**
 * Where everything lives inside a run dir, in one place. The planner (output and config paths), the
 * executor, the backends and the read-only commands all ask this class, so the layout below is
 * written out once. Dependency-free on purpose: it sits in the lowest layer so any layer may use it.
 *
 *   state.json  events.jsonl  lock.json  flux-train.log  report.html  dataset_info.json
 *   lock.json.seen  lock.json.takeover  lock.json.stale-*   the lock's own files (state/lock.ts)
 *   configs/<r1-id>.yaml              the LLaMA-Factory config of one train instance
 *   configs/<r1-id>.serve.yaml        the inference YAML of one serve instance (llamafactory engine)
 *   outputs/r<N>/<id>/                one stage instance's output dir
 *   logs/<r1-id>.attempt<K>.log       one attempt's log, a server's too (.exit, .pid.json and .tree.json beside it, local backend)
 *   slurm/<r1-id>.attempt<K>.sbatch   the job script of one Slurm attempt
 *   trash/<r1-id>.<time>              outputs moved aside before a rerun (never deleted)
 *   quarantine/<r1-id>/checkpoint-<step>.<ms>   checkpoints broken by a crash mid-save
 *   standin-control/<r1-id>           test stand-in instructions (tests only)
 */

/** A stage key `r<N>/<id>` as one file-name part: `r<N>-<id>`. */
export const stageFileName = (key: string): string => key.replace('/', '-');

export const STATE_FILE = 'state.json';
export const EVENTS_FILE = 'events.jsonl';
export const LOCK_FILE = 'lock.json';
export const LOG_FILE = 'flux-train.log';
export const REPORT_FILE = 'report.html';

export class RunDir {
  constructor(readonly root: string) {}

  get stateFile(): string {
    return join(this.root, STATE_FILE);
  }
  get eventsFile(): string {
    return join(this.root, EVENTS_FILE);
  }
  get lockFile(): string {
    return join(this.root, LOCK_FILE);
  }
  /** flux-train's own structured log (pino) */
  get logFile(): string {
    return join(this.root, LOG_FILE);
  }
  get reportFile(): string {
    return join(this.root, REPORT_FILE);
  }

  /** outputs/r<N>/<id> */
  outputDir(round: number, id: string): string {
    return join(this.root, 'outputs', `r${round}`, id);
  }
  /** the output dir of a stage key `r<N>/<id>` */
  outputDirOfKey(key: string): string {
    return join(this.root, 'outputs', ...key.split('/'));
  }
  get configsDir(): string {
    return join(this.root, 'configs');
  }
  configFile(key: string): string {
    return join(this.configsDir, `${stageFileName(key)}.yaml`);
  }
  /** the inference YAML of one serve instance (llamafactory engine) */
  serveConfigFile(key: string): string {
    return join(this.configsDir, `${stageFileName(key)}.serve.yaml`);
  }

  get logsDir(): string {
    return join(this.root, 'logs');
  }
  /** the prefix every file of one stage's attempts in logs/ starts with */
  attemptPrefix(key: string): string {
    return `${stageFileName(key)}.attempt`;
  }
  attemptLog(key: string, attempt: number): string {
    return join(this.logsDir, `${this.attemptPrefix(key)}${attempt}.log`);
  }
  /** the exit code the local wrapper writes when the job ends */
  attemptExitFile(key: string, attempt: number): string {
    return join(this.logsDir, `${this.attemptPrefix(key)}${attempt}.exit`);
  }
  /** the local backend's record of a started process (pid, start time) */
  attemptPidFile(key: string, attempt: number): string {
    return join(this.logsDir, `${this.attemptPrefix(key)}${attempt}.pid.json`);
  }

  /** the local backend's record of the processes a started process spawned (pid, start time), workers in their own session included */
  attemptTreeFile(key: string, attempt: number): string {
    return join(this.logsDir, `${this.attemptPrefix(key)}${attempt}.tree.json`);
  }

  get slurmDir(): string {
    return join(this.root, 'slurm');
  }
  sbatchScript(key: string, attempt: number): string {
    return join(this.slurmDir, `${stageFileName(key)}.attempt${attempt}.sbatch`);
  }

  get trashDir(): string {
    return join(this.root, 'trash');
  }
  /** where a stage's old outputs go before a rerun, stamped with the time */
  trashFor(key: string, at: Date = new Date()): string {
    return join(this.trashDir, `${stageFileName(key)}.${at.toISOString().replace(/[:.]/g, '-')}`);
  }

  quarantineDir(key: string): string {
    return join(this.root, 'quarantine', stageFileName(key));
  }
  quarantinedCheckpoint(key: string, step: number, atMs: number = Date.now()): string {
    return join(this.quarantineDir(key), `checkpoint-${step}.${atMs}`);
  }

  /** instructions for the test stand-in trainer, one file per stage instance */
  standinControl(key: string): string {
    return join(this.root, 'standin-control', stageFileName(key));
  }
}
