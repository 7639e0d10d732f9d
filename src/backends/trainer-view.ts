import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Mount } from '../pipeline/plan-types.js';
import type { BackendName } from '../pipeline/schema.js';
import { runPathIn, type TrainerView, type TrainerViewFactory } from '../planner/trainer-view.js';
import { unreachable } from '../util/unreachable.js';

/** Where the docker backend mounts the run dir and the shared Hugging Face cache inside a container. */
export const CONTAINER_RUN_DIR = '/flux/run';
export const CONTAINER_HF_HOME = '/flux/hf-cache';

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/**
 * docker: the run dir at /flux/run, the Hugging Face cache at /flux/hf-cache, and every input outside
 * the run dir mounted read-only under /flux/<kind>/<hash of its host path>/<name>.
 */
export function containerView(o: { hfCache?: string | undefined } = {}): TrainerViewFactory {
  return (runDir, p): TrainerView => {
    const hf = o.hfCache ?? p.spec.docker.hf_cache ?? join(homedir(), '.cache', 'huggingface');
    const mounts: Mount[] = [
      { host: runDir, container: CONTAINER_RUN_DIR, mode: 'rw', what: 'run dir (configs, outputs, logs)' },
      { host: resolve(p.baseDir, hf), container: CONTAINER_HF_HOME, mode: 'rw', what: 'Hugging Face cache shared by all stages' },
    ];
    return {
      runDir: CONTAINER_RUN_DIR,
      runPath: runPathIn(runDir, CONTAINER_RUN_DIR),
      inputPath(host, kind, what) {
        const existing = mounts.find((m) => m.host === host);
        if (existing) return existing.container;
        const container = `/flux/${kind}/${shortHash(host)}/${basename(host)}`;
        mounts.push({ host, container, mode: 'ro', what });
        return container;
      },
      env: { HF_HOME: CONTAINER_HF_HOME },
      mounts: () => [...mounts],
    };
  };
}

/** local and slurm: the trainer runs on a host that sees the same paths (slurm binds them at the same place). */
export const hostView: TrainerViewFactory = (runDir) => ({
  runDir,
  runPath: runPathIn(runDir, runDir),
  inputPath: (host) => host,
  env: {},
  mounts: () => [],
});

/** `flux-train config`: a folder run by hand from inside itself, so paths in it are relative to it. */
export const manualView: TrainerViewFactory = (runDir) => ({
  runDir: '.',
  runPath: runPathIn(runDir, '.'),
  inputPath: (host) => host,
  env: {},
  mounts: () => [],
});

/** The view each backend gives its trainers. */
export function trainerViewFor(backend: BackendName, o: { hfCache?: string | undefined } = {}): TrainerViewFactory {
  switch (backend) {
    case 'docker':
      return containerView(o);
    case 'local':
    case 'slurm':
      return hostView;
    default:
      return unreachable(backend);
  }
}
