import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Diagnostic, Locator, PathSegment } from '../pipeline/diagnostics.js';
import type { EndpointUse, ServeInstance } from '../pipeline/plan-types.js';
import type { CommandStage } from '../pipeline/schema.js';
import { suggestFrom } from '../llamafactory/keys.js';
import { projectRoot } from '../util/project-root.js';
import type { StageCatalog } from './catalog.js';
import { stageKey } from './keys.js';
import type { TrainerView } from './trainer-view.js';

/** What resolving a command stage's `endpoints` and placeholders reads. */
export interface EndpointScope {
  catalog: StageCatalog;
  loc: Locator;
  serves: Map<string, ServeInstance>;
  view: TrainerView;
  baseDir: string;
}

/**
 * A command stage's `endpoints`: each names a serve stage of the same round. Two names that give the
 * same variable, or a name that `inputs` also sets FLUX_MODEL_<NAME> for, are errors.
 */
export function resolveEndpoints(scope: EndpointScope, s: CommandStage, round: number, at: PathSegment[]): { uses: EndpointUse[]; diags: Diagnostic[] } {
  const { catalog, loc } = scope;
  const uses: EndpointUse[] = [];
  const diags: Diagnostic[] = [];
  const inputNames = new Set(Object.keys(s.inputs).map((n) => n.toUpperCase()));
  const seen = new Map<string, string>();
  for (const [name, id] of Object.entries(s.endpoints)) {
    const where = [...at, 'endpoints', name];
    const upper = name.toUpperCase();
    if (inputNames.has(upper)) {
      diags.push(loc.diag('reference', where, `"${name}" is both an input and an endpoint of stage "${s.id}": both would set FLUX_MODEL_${upper}`, 'rename one of them'));
      continue;
    }
    const twin = seen.get(upper);
    if (twin !== undefined) {
      diags.push(loc.diag('reference', where, `endpoints "${twin}" and "${name}" both set FLUX_ENDPOINT_${upper}`, 'rename one of them'));
      continue;
    }
    seen.set(upper, name);
    const target = catalog.byId.get(id);
    if (!target) {
      const serves = catalog.ids.filter((x) => catalog.byId.get(x)?.spec.kind === 'serve');
      const guess = suggestFrom(serves, id);
      diags.push(loc.diag('reference', where, `endpoint "${name}" of stage "${s.id}" names unknown stage "${id}"`, guess ? `did you mean "${guess}"?` : serves.length > 0 ? `name a serve stage: ${serves.join(', ')}` : 'declare a `kind: serve` stage and name it here'));
      continue;
    }
    if (target.spec.kind !== 'serve') {
      diags.push(loc.diag('reference', where, `endpoint "${name}" names "${id}", a ${target.spec.kind} stage, not a server`, 'name a `kind: serve` stage'));
      continue;
    }
    const key = stageKey(round, id);
    if (!scope.serves.has(key)) {
      diags.push(loc.diag('reference', where, `stage "${s.id}" in round ${round} uses server "${id}", which does not run in round ${round}`, `make "${id}" run in round ${round} (its \`rounds:\`), or leave "${s.id}" out of that round`));
      continue;
    }
    uses.push({ name, serve: key });
  }
  return { uses, diags };
}

/**
 * `{tools}` (flux-train's own tools/ folder: the pair miner and the evaluator) and `{pipeline_dir}` (the
 * pipeline file's folder) in a command, with the path that follows them, as the job sees that path: a
 * container gets that folder (a file's folder) mounted read-only, so `{pipeline_dir}/../data` reaches a
 * folder beside the pipeline's too. A path that does not exist is reported like a missing dataset.
 */
export function expandPlaceholders(scope: EndpointScope & { dataProblems: 'error' | 'warning' }, command: string[], at: PathSegment[]): { command: string[]; diags: Diagnostic[] } {
  const diags: Diagnostic[] = [];
  const roots = { tools: join(projectRoot, 'tools'), pipeline_dir: scope.baseDir };
  const out = command.map((arg, i) =>
    arg.replace(/\{(tools|pipeline_dir)\}((?:\/[^\s'"=,:;]*)?)/g, (_m, name: 'tools' | 'pipeline_dir', rest: string) => {
      const host = resolve(roots[name], `.${rest}`);
      if (!existsSync(host)) {
        diags.push(scope.loc.diag('missing-file', [...at, i], `${`{${name}}`}${rest} is ${host}, which does not exist`, name === 'tools' ? 'name a file under tools/ (mine_pairs.py, evaluate.py, fixtures/)' : 'create it (scripts/fetch-datasets.sh fetches the benchmarks), or fix the path', { severity: scope.dataProblems }));
      }
      // tools/ is mounted whole (a program imports its package, flux_tools); elsewhere a file comes with its folder
      const isDir = existsSync(host) && statSync(host).isDirectory();
      const folder = name === 'tools' && host.startsWith(roots.tools) ? roots.tools : isDir ? host : dirname(host);
      const mounted = scope.view.inputPath(folder, name === 'tools' ? 'tools' : 'pipeline', name === 'tools' ? "flux-train's tools (pair miner, evaluator)" : `{pipeline_dir}${rest}`);
      return folder === host ? mounted : `${mounted}/${relative(folder, host)}`;
    }),
  );
  return { command: out, diags };
}
