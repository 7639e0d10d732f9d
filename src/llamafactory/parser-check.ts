import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { KeySet } from './keys.js';
import { renderConfigYaml } from './config-yaml.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { stageFileName } from '../util/run-layout.js';
import { projectRoot } from '../util/project-root.js';
import { err, ok, type Result } from '../util/result.js';

/** One train config to check: the stage instance key (r<N>/<id>) and its complete arguments. */
export interface TrainConfig {
  key: string;
  args: Record<string, unknown>;
}

/**
 * Runs every generated train config through LLaMA-Factory's own HfArgumentParser in the given
 * environment (a venv or conda env path), without training.
 */
export async function checkWithLlamaFactory(configs: TrainConfig[], keySet: KeySet, env: string): Promise<Result<string, string>> {
  const python = [join(env, 'bin', 'python'), join(env, 'bin', 'python3')].find((p) => existsSync(p));
  if (!python) return err(`no Python in ${env}/bin: pass the LLaMA-Factory venv or conda env (scripts/setup-llamafactory-venv.sh creates one in .cache/llamafactory-venv)`);
  const dir = mkdtempSync(join(tmpdir(), 'flux-lf-check-'));
  try {
    const files: string[] = [];
    for (const s of configs) {
      const f = join(dir, `${stageFileName(s.key)}.yaml`);
      writeFileAtomic(f, renderConfigYaml(s.args, keySet));
      files.push(f);
    }
    const r = await execa(python, [join(projectRoot, 'scripts', 'check_llamafactory_config.py'), ...files], { reject: false, env: { PYTHONWARNINGS: 'ignore', TRANSFORMERS_VERBOSITY: 'error' } });
    const results = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { config: string; ok: boolean; errors: string[] });
    if (results.length !== files.length) return err(`LLaMA-Factory's parser could not be run in ${env} (exit ${r.exitCode}):\n${r.stderr.split('\n').slice(-15).join('\n')}`);
    const bad = results.filter((x) => !x.ok);
    if (bad.length > 0) return err(bad.map((b) => `${b.config.split('/').pop()}: ${b.errors.join('; ')}`).join('\n'));
    return ok(`LLaMA-Factory's own parser (${env}) accepted all ${results.length} train configs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
