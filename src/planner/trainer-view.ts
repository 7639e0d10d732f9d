import { posix, relative } from 'node:path';
import type { Pipeline } from '../pipeline/load.js';
import type { Mount } from '../pipeline/plan-types.js';

/**
 * How the trainer sees paths. The planner asks it for every path it hands to a trainer; the backend
 * (or `flux-train config`) supplies it, so container paths and mounts are the backend's business.
 */
export interface TrainerView {
  /** the run dir as the trainer sees it: a container path, the host path, or "." for a hand-run config folder */
  readonly runDir: string;
  /** the trainer's path of a file inside the run dir */
  runPath(hostPath: string): string;
  /** the trainer's path of an input outside the run dir (a dataset file, a local base model) */
  inputPath(hostPath: string, kind: 'datasets' | 'models' | 'tools' | 'pipeline', what: string): string;
  /** environment every stage instance gets from this view, added last */
  readonly env: Readonly<Record<string, string>>;
  /** the mounts the trainer needs, in the order they were first asked for */
  mounts(): Mount[];
}

/** Makes the view of one plan: its (absolute) run dir and the pipeline it comes from. */
export type TrainerViewFactory = (runDir: string, pipeline: Pipeline) => TrainerView;

/** Maps a host path inside `hostRunDir` to the same file under `trainerRunDir` ("." gives a relative path). */
export function runPathIn(hostRunDir: string, trainerRunDir: string): (hostPath: string) => string {
  return (hostPath) => {
    const rel = relative(hostRunDir, hostPath).split('\\').join('/');
    return trainerRunDir === '.' ? rel : posix.join(trainerRunDir, rel);
  };
}
