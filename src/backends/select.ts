import { resolve } from 'node:path';
import type { Plan } from '../pipeline/plan-types.js';
import type { Pipeline } from '../pipeline/load.js';
import type { Backend } from './backend.js';

export interface BackendChoice {
  user?: string;
  localEnv?: string;
  skipDiskCheck?: boolean;
  warn: (m: string) => void;
}

/** Backends are loaded on demand so that `--help` and `status` never pay for dockerode. */
export async function createBackend(p: Pipeline, plan: Plan, c: BackendChoice): Promise<Backend> {
  // jobs run in the run dir: a relative env would be looked up there (--local-env from the cwd, local.env from the pipeline's folder)
  const localEnv = c.localEnv !== undefined ? resolve(c.localEnv) : p.spec.local.env !== undefined ? resolve(p.baseDir, p.spec.local.env) : undefined;
  switch (plan.backend) {
    case 'docker': {
      const { DockerBackend } = await import('./docker.js');
      return new DockerBackend(plan, {
        settings: p.spec.docker,
        warn: c.warn,
        ...(c.user !== undefined ? { user: c.user } : {}),
        ...(c.skipDiskCheck ? { skipDiskCheck: true } : {}),
      });
    }
    case 'local': {
      const { LocalBackend } = await import('./local.js');
      return new LocalBackend(plan, { env: localEnv, warn: c.warn, ...(c.skipDiskCheck ? { skipDiskCheck: true } : {}) });
    }
    case 'slurm': {
      const { SlurmBackend } = await import('./slurm.js');
      const byId = new Map(p.spec.stages.map((s) => [s.id, s]));
      return new SlurmBackend(plan, {
        settings: p.spec.slurm,
        perStage: (s) => byId.get(s.id)?.slurm,
        env: localEnv,
        passEnv: p.spec.docker.pass_env,
        warn: c.warn,
        pollMs: p.spec.slurm.poll_seconds * 1000,
        ...(c.skipDiskCheck ? { skipDiskCheck: true } : {}),
      });
    }
  }
}
