import type { ModelInput, Plan, ServeInstance } from '../pipeline/plan-types.js';
import { actionOf, describeAction, type PlannedAction } from '../state/actions.js';
import { redact, redactDeep } from '../util/redact.js';

/** The dry run's view of the plan and its actions: human lines, or one JSON document. */
export function printPlan(plan: Plan, actions: PlannedAction[], json: boolean, warnings: string[]): void {
  const write = (t: string) => process.stdout.write(redact(t));
  const byKey = new Map(actions.map((a) => [a.key, a]));
  if (json) {
    const out = {
      pipeline: plan.pipeline,
      run_dir: plan.runDir,
      rounds: plan.rounds,
      backend: plan.backend,
      image: plan.image,
      mounts: plan.mounts,
      gpu_pool: plan.gpuPool,
      stages: plan.stages.map((s) => {
        const a = actionOf(byKey, s.key);
        return {
          key: s.key,
          id: s.id,
          round: s.round,
          stage: s.stage,
          kind: s.kind,
          action: describeAction(a),
          reason: a.reason,
          ...(a.action === 'resume' ? { checkpoint: a.checkpoint } : {}),
          ...((a.action === 'rerun' || a.action === 'blocked') && a.changed ? { changed: a.changed } : {}),
          depends_on: s.dependsOn,
          // a command stage has no model, datasets, config or args; the JSON keeps its empty values as before
          model: s.kind === 'train' ? s.trainerModel : '',
          ...(s.kind === 'train' && s.refModel ? { ref_model: s.args['ref_model'] } : {}),
          datasets: s.kind === 'train' ? s.datasets.map((d) => ({ name: d.name, path: d.hostPath, info: d.info })) : [],
          output_dir: s.outputDir,
          trainer_output_dir: s.trainerOutputDir,
          config: s.kind === 'train' ? s.configPath : undefined,
          args: s.kind === 'train' ? s.args : {},
          command: s.command,
          env: s.env,
          gpus: s.gpus,
          // what the executor takes from the pool while the instance runs (one slot of --max-parallel)
          resources: { gpus: s.gpus, slots: 1 },
          image: s.image,
        };
      }),
      // servers are no stage instances (no action, never finished); absent, like before, when the plan has none
      ...(plan.serves.length > 0 ? { serves: plan.serves.map(serveJson) } : {}),
      warnings,
    };
    write(`${JSON.stringify(redactDeep(out), null, 2)}\n`);
    return;
  }
  write(`plan: ${plan.pipelineName}, rounds 1..${plan.rounds}, backend ${plan.backend}, image ${plan.image}\nrun dir: ${plan.runDir}\n`);
  for (const m of plan.mounts) write(`  mount ${m.host} -> ${m.container} (${m.mode}, ${m.what})\n`);
  for (const s of plan.stages) {
    const a = actionOf(byKey, s.key);
    const model = s.kind === 'train' ? (s.model.kind === 'stage' ? `${s.model.key} (${s.trainerModel})` : s.trainerModel) : '-';
    const data = (s.kind === 'train' ? s.datasets.map((d) => `${d.name}=${d.hostPath}`).join(', ') : '') || '-';
    const endpoints = s.kind === 'command' && s.endpoints.length > 0 ? `    endpoints: ${s.endpoints.map((e) => `${e.name} -> ${e.serve}`).join(', ')}\n` : '';
    write(
      `${s.key.padEnd(24)} ${describeAction(a).padEnd(22)} ${a.reason}\n    ${s.kind === 'train' ? s.stage : 'command'}  model: ${model}\n    data: ${data}\n${endpoints}    out: ${s.outputDir}${s.trainerOutputDir !== s.outputDir ? ` (trainer sees ${s.trainerOutputDir})` : ''}\n`,
    );
  }
  if (plan.serves.length > 0) write(`servers (each starts with its first consumer and stops after its last; ${PORT_NOTE}):\n${plan.serves.map(serveText).join('')}`);
  const n = (k: string) => actions.filter((a) => a.action === k).length;
  write(`${actions.length} stage instances: ${n('run')} run, ${n('rerun')} rerun, ${n('resume')} resume, ${n('reattach')} re-attach, ${n('skip')} skip, ${n('blocked')} blocked\n`);
}

/** The plan's launch lines name port 0: the real one is free only when the server starts. */
const PORT_NOTE = 'port chosen at start';

/** What a server serves: the stage instance whose output it is (and where the server sees it), or a base model. */
function servedModel(m: ModelInput, serverModel: string): string {
  return m.kind === 'stage' ? `${m.key} (${serverModel})` : m.ref === serverModel ? `${m.name}: ${m.ref}` : `${m.name}: ${m.ref} (${serverModel})`;
}

function serveJson(s: ServeInstance) {
  return {
    key: s.key,
    id: s.id,
    round: s.round,
    kind: s.kind,
    engine: s.engine,
    model: s.serverModel,
    model_source: s.model.kind === 'stage' ? { stage: s.model.key } : { base: s.model.name },
    served_name: s.servedName,
    ...(s.template !== undefined ? { template: s.template } : {}),
    // a consumer naming one server under two endpoint names is listed once
    consumers: [...new Set(s.consumers)],
    depends_on: s.dependsOn,
    command: s.command,
    env: s.env,
    port: 'chosen at start',
    host: s.bindHost,
    ready_timeout_seconds: s.readyTimeoutMs / 1000,
    gpus: s.gpus,
    image: s.image,
  };
}

function serveText(s: ServeInstance): string {
  // the llamafactory engine takes its port and name from the environment (API_PORT, API_MODEL_NAME)
  const launchEnv = Object.entries(s.env)
    .filter(([k]) => k.startsWith('API_'))
    .map(([k, v]) => `${k}=${shellWord(v)} `)
    .join('');
  return (
    `${s.key.padEnd(24)} ${`server (${s.engine})`.padEnd(22)} serves ${servedModel(s.model, s.serverModel)} as ${JSON.stringify(s.servedName)}\n` +
    `    gpus: ${String(s.gpus)}  for: ${[...new Set(s.consumers)].join(', ') || '- (no consumer: never starts)'}\n` +
    `    launch: ${launchEnv}${s.command.map(shellWord).join(' ')}  (${PORT_NOTE})\n`
  );
}

/** An argument as a shell would need it, so the launch line can be read (and copied) as one line. */
function shellWord(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;
}
