import type { Diagnostic } from '../pipeline/diagnostics.js';
import type { PlanStage, ServeInstance } from '../pipeline/plan-types.js';
import type { Locator } from '../pipeline/diagnostics.js';
import type { BackendName, GpuSpec } from '../pipeline/schema.js';
import type { StageCatalog } from './catalog.js';
import type { ServeStage } from '../pipeline/schema.js';
import { RunDir } from '../util/run-layout.js';
import { common, trainerModelPath, type InstanceScope } from './instances.js';
import { resolveModel } from './models.js';
import { launchOf } from './serve-engines.js';

/**
 * Where a server listens: on this host (local, docker with the host network) only its loopback, which
 * its consumers share; a batch job on a node its consumers reach over the network (they get the node's
 * address once it runs).
 */
export const bindHostFor = (backend: BackendName): string => (backend === 'slurm' ? '0.0.0.0' : '127.0.0.1');

/**
 * One round of a serve stage: the model it serves, as the server sees it, and how it is launched. The
 * port is chosen when it starts, so the plan's command shows port 0. Which backends can serve at all
 * is decided here, before anything runs.
 */
export function planServeInstance(scope: InstanceScope, s: ServeStage, index: number, round: number): { serve?: ServeInstance; diags: Diagnostic[] } {
  const c = common(scope, s, index, round);
  const { loc } = scope;
  const diags: Diagnostic[] = [];
  if (scope.backend === 'docker' && scope.spec.docker.network !== 'host') {
    diags.push(loc.diag('serve', ['docker', 'network'], `serve stage "${s.id}" needs docker.network: host (it is "${scope.spec.docker.network}"): consumers reach servers on 127.0.0.1`, 'set `docker: {network: host}` (the default)'));
  }
  // flux-train picks these: a second value would make the server answer where no consumer looks
  const owned = s.args.filter((a) => ['--port', '--host', '--served-model-name', '--model-path'].includes(a.split('=')[0] as string));
  if (owned.length > 0) {
    diags.push(loc.diag('serve', [...c.at, 'args'], `serve stage "${s.id}" sets ${owned.join(', ')} in args, which flux-train sets itself (a free port, the host its consumers reach, served_name, the model)`, 'remove them; use `served_name:` for the name and `model:` for the model'));
  }
  if (s.engine === 'llamafactory' && s.template === undefined) {
    diags.push(loc.diag('serve', [...c.at, 'engine'], `serve stage "${s.id}" uses the llamafactory engine, which needs the model's chat template`, 'add `template: qwen3` (the template the model was trained with)'));
  }
  const model = resolveModel(scope, s.model, round, s.id, [...c.at, 'model']);
  diags.push(...model.diags);
  // with other errors the instance is still planned, so its consumers do not report it missing as well
  if (!model.model) return { diags };
  if (model.model.kind === 'stage') c.deps.add(model.model.key);
  const serverModel = trainerModelPath(scope, model.model);
  const configPath = new RunDir(scope.runDir).serveConfigFile(c.key);
  const serverConfigPath = scope.view.runPath(configPath);
  const servedName = s.served_name ?? s.id;
  const bindHost = bindHostFor(scope.backend);
  const serve: ServeInstance = {
    key: c.key,
    id: s.id,
    round,
    kind: 'serve',
    stage: 'serve',
    dependsOn: [...c.deps],
    outputDir: c.outputDir,
    trainerOutputDir: c.trainerOutputDir,
    gpus: c.gpus,
    image: s.image ?? scope.image,
    env: { ...s.env, ...scope.view.env },
    passEnv: scope.spec.docker.pass_env,
    command: [],
    workdir: scope.view.runDir,
    engine: s.engine,
    model: model.model,
    serverModel,
    servedName,
    bindHost,
    ...(s.template !== undefined ? { template: s.template } : {}),
    extraArgs: s.args,
    readyTimeoutMs: s.ready_timeout_seconds * 1000,
    configPath,
    serverConfigPath,
    consumers: [],
  };
  const launch = launchOf(serve, 0, undefined);
  if (launch.ok) Object.assign(serve, { command: launch.value.command, env: { ...s.env, ...launch.value.env, ...scope.view.env } });
  return { serve, diags };
}

/**
 * A consumer runs only while all its servers are up, so they must fit in the GPU pool together;
 * otherwise each would get its GPUs in turn and the last would wait for ever. With a pool of unknown
 * size (`all`) only one of them may use GPUs.
 */
export function serveGpuProblems(stages: PlanStage[], serves: ReadonlyMap<string, ServeInstance>, pool: GpuSpec, catalog: StageCatalog, loc: Locator): Diagnostic[] {
  if (pool === 'none') return [];
  const size = typeof pool === 'number' ? pool : pool === 'all' ? undefined : pool.split(',').length;
  const out: Diagnostic[] = [];
  for (const s of stages) {
    if (s.kind !== 'command' || s.endpoints.length === 0) continue;
    const servers = s.endpoints.flatMap((e) => {
      const sv = serves.get(e.serve);
      return sv ? [{ who: sv.id, gpus: sv.gpus }] : [];
    });
    const needs = [{ who: s.id, gpus: s.gpus }, ...servers].filter((n) => n.gpus !== 'none');
    // two endpoints may name one server
    const uniq = [...new Map(needs.map((n) => [n.who, n])).values()];
    const count = (g: GpuSpec) => (typeof g === 'number' ? g : g === 'all' ? (size ?? Infinity) : g === 'none' ? 0 : g.split(',').length);
    const total = uniq.reduce((a, n) => a + count(n.gpus), 0);
    const ids = typeof pool === 'string' && pool !== 'all' ? new Set(pool.split(',')) : undefined;
    const outside = ids === undefined ? [] : uniq.flatMap((n) => (typeof n.gpus === 'string' && n.gpus !== 'all' ? n.gpus.split(',').filter((g) => !ids.has(g)) : []));
    const fits = outside.length === 0 && (size === undefined ? uniq.length <= 1 : total <= size);
    if (fits) continue;
    const index = catalog.byId.get(s.id)?.index ?? 0;
    const what = uniq.map((n) => `${n.who} (${String(n.gpus)})`).join(', ');
    const fix = size === undefined ? 'give the pipeline (or --gpus) a GPU count or ids, e.g. `gpus: 8`, and each server its share (`gpus: 4`)' : `give the servers fewer GPUs (\`gpus:\` per serve stage), the consumer \`gpus: none\`, or the pool more (--gpus)`;
    const problem = outside.length > 0 ? `asks for GPU ${outside.join(', ')}, which the pool (${String(pool)}) does not have` : `needs ${what} at once, which does not fit the GPU pool (${String(pool)})`;
    out.push(loc.diag('serve', ['stages', index, 'endpoints'], `stage "${s.id}" ${problem}`, outside.length > 0 ? 'give the servers GPU ids from the pool (`gpus:`), or a larger pool (--gpus)' : fix));
  }
  return out;
}
