import { RunDir } from '../util/run-layout.js';

/** A stage instance's key, unique in a plan: r<round>/<id>. */
export const stageKey = (round: number, id: string): string => `r${round}/${id}`;

/** The key as a file name (configs, logs, sbatch scripts): r<round>-<id>. */
export { stageFileName } from '../util/run-layout.js';

/** Host folder a stage instance writes: outputs/r<round>/<id> in the run dir (the layout is RunDir's). */
export const outputDirOf = (runDir: string, round: number, id: string): string => new RunDir(runDir).outputDir(round, id);
