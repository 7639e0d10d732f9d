import { isAbsolute } from 'node:path';
import type { Diagnostic, Locator } from './diagnostics.js';
import type { PipelineSpec } from './schema.js';
import { hasOwn } from '../util/own.js';

/** Names that look like they hold a secret; such values must come from the environment, not the file. */
export function looksSecret(name: string): boolean {
  return /TOKEN|SECRET|KEY|PASSWORD/i.test(name) || name === 'HF_TOKEN' || name === 'WANDB_API_KEY';
}

/** Per-stage rules the schema cannot state: secrets in `env:`, where outputs may go, one DeepSpeed setting. */
export function checkStages(spec: PipelineSpec, locator: Locator): Diagnostic[] {
  const out: Diagnostic[] = [];
  spec.stages.forEach((s, i) => {
    for (const name of Object.keys(s.env)) {
      if (looksSecret(name)) {
        out.push(
          locator.diag('secret-env', ['stages', i, 'env', name], `"${name}" looks like a secret; a value in \`env:\` is written into the pipeline, the run state and the logs`, `use pass_env: remove it from \`env:\`, list ${name} under \`docker: {pass_env: [...]}\` and export it in the shell that runs flux-train`, { key: true, value: null }),
        );
      }
    }
    if (s.kind === 'command') {
      s.outputs.forEach((o, j) => {
        const problem = outputPathProblem(o);
        if (problem) out.push(locator.diag('output-path', ['stages', i, 'outputs', j], `output "${o}" ${problem}`, 'name the file relative to the stage output dir ($FLUX_OUTPUT_DIR), e.g. pairs.jsonl or data/pairs.jsonl'));
      });
    } else if (s.kind === 'train' && s.deepspeed !== undefined && hasOwn(s.args, 'deepspeed')) {
      out.push(locator.diag('duplicate-setting', ['stages', i, 'deepspeed'], `stage "${s.id}" sets DeepSpeed twice (\`deepspeed:\` and \`args.deepspeed\`)`, 'keep one of them'));
    }
  });
  return out;
}

/** Why a command stage's declared output would land outside its output dir, or undefined. */
export function outputPathProblem(o: string): string | undefined {
  if (isAbsolute(o) || /^[A-Za-z]:[\\/]/.test(o) || o.startsWith('\\')) return 'is an absolute path; outputs live in the stage output dir';
  const parts = o.split(/[\\/]/);
  if (parts.includes('..')) return 'leaves the stage output dir with ".."';
  if (parts.every((x) => x === '' || x === '.')) return 'names the output dir itself, not a file in it';
  return undefined;
}
