import { join } from 'node:path';

/** A stage instance's key, unique in a plan: r<round>/<id>. */
export const stageKey = (round: number, id: string): string => `r${round}/${id}`;

/** The key as a file name (configs, logs, sbatch scripts): r<round>-<id>. */
export const stageFileName = (key: string): string => key.replace('/', '-');

/** Host folder a stage instance writes: outputs/r<round>/<id> in the run dir. */
export const outputDirOf = (runDir: string, round: number, id: string): string => join(runDir, 'outputs', `r${round}`, id);
