import { formatDiagnostic } from '../pipeline/diagnostics.js';
import { EXIT, loadOrThrow, parseBackend, parseRounds, pipelinePath, planOrThrow, viewFor, defaultRunDir } from './context.js';

export interface ValidateOptions {
  pipeline?: string;
  n?: string;
  backend?: string;
  withLlamafactory?: string;
  dataCheck?: boolean;
}

export async function validateCommand(o: ValidateOptions): Promise<number> {
  const file = pipelinePath(o.pipeline);
  const p = loadOrThrow(file);
  const backend = parseBackend(o.backend) ?? p.spec.backend;
  const rounds = parseRounds(o.n, 3);
  const { plan, warnings } = planOrThrow(p, { rounds, runDir: defaultRunDir(p), backend, view: viewFor(backend), dataProblems: o.dataCheck === false ? 'warning' : 'error' });
  for (const w of warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
  if (o.withLlamafactory !== undefined) {
    const { checkWithLlamaFactory } = await import('../llamafactory/parser-check.js');
    const res = await checkWithLlamaFactory(plan.stages.flatMap((s) => (s.kind === 'train' ? [{ key: s.key, args: s.args }] : [])), p.keySet, o.withLlamafactory);
    if (!res.ok) {
      process.stderr.write(`${res.error}\n`);
      return EXIT.badInput;
    }
    process.stdout.write(`${res.value}\n`);
  }
  const train = plan.stages.filter((s) => s.kind === 'train').length;
  process.stdout.write(
    `${file}: OK: ${plan.stages.length} stage instances over ${rounds} round(s) (${train} training${plan.serves.length > 0 ? `, ${plan.serves.length} server(s)` : ''}), ${Object.keys(plan.datasetInfo).length} datasets, image ${plan.image}${warnings.length ? `, ${warnings.length} warning(s)` : ''}\n`,
  );
  return EXIT.ok;
}
