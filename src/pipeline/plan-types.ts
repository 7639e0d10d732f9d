import type { BackendName, GpuSpec, ServeEngineName } from './schema.js';

/** A model handed to a stage: a declared base model, or a verified output of another stage instance. */
export type ModelInput =
  | { kind: 'base'; name: string; /** hub id or absolute host path */ ref: string; local: boolean }
  | { kind: 'stage'; key: string; /** host path of that instance's output dir */ hostPath: string };

export interface PlanDataset {
  /** the name in dataset_info.json: the pipeline's name, with `_r<N>` where a later round has its own file */
  name: string;
  /** pipeline dataset this entry comes from */
  declared: string;
  hostPath: string;
  trainerPath: string;
  /** the dataset_info.json entry, as written */
  info: Record<string, unknown>;
  /** set when a command stage instance writes the file */
  producedBy?: string;
}

export interface Mount {
  host: string;
  container: string;
  mode: 'ro' | 'rw';
  what: string;
}

/** What every stage instance has, whatever runs in it. */
interface InstanceBase {
  /** unique in the plan: r<round>/<id> */
  key: string;
  id: string;
  round: number;
  dependsOn: string[];
  outputDir: string;
  trainerOutputDir: string;
  gpus: GpuSpec;
  image: string;
  /** non-secret environment for the process */
  env: Record<string, string>;
  /** names of variables passed through from the invoking environment (values never stored) */
  passEnv: string[];
  /** what runs: llamafactory-cli train CONFIG, or the command stage's command */
  command: string[];
  workdir: string;
}

/** One round of a `kind: train` stage: a `llamafactory-cli train` run of a generated YAML. */
export interface TrainInstance extends InstanceBase {
  kind: 'train';
  /** LLaMA-Factory stage (sft, dpo, ...) */
  stage: string;
  model: ModelInput;
  /** the model as the trainer sees it (model_name_or_path) */
  trainerModel: string;
  refModel?: ModelInput;
  datasets: PlanDataset[];
  /** host path of the generated LLaMA-Factory YAML */
  configPath: string;
  trainerConfigPath: string;
  /** the complete LLaMA-Factory arguments the trainer gets */
  args: Record<string, unknown>;
  deepspeed?: { source: string; hostPath: string };
}

/** One round of a `kind: command` stage: the user's program, checked by the files it must leave. */
export interface CommandInstance extends InstanceBase {
  kind: 'command';
  stage: 'command';
  /** files the command must leave in its output dir */
  expectedOutputs: string[];
  /** servers it talks to: FLUX_ENDPOINT_<NAME> and FLUX_MODEL_<NAME> are set when they are ready */
  endpoints: EndpointUse[];
}

export interface EndpointUse {
  /** as declared (the variable names use it upper-cased) */
  name: string;
  /** the serve instance's key */
  serve: string;
}

/** A stage instance of the plan, by kind: train-only fields exist only where they mean something. */
export type PlanStage = TrainInstance | CommandInstance;

/**
 * One round of a `kind: serve` stage: an inference server that is up while its consumers run. It is no
 * PlanStage: it has no outputs to verify and never finishes; the executor starts it for its consumers.
 * Its `command` and `env` are completed with a port when it starts (planner/serve-engines).
 */
export interface ServeInstance extends InstanceBase {
  kind: 'serve';
  stage: 'serve';
  engine: ServeEngineName;
  model: ModelInput;
  /** the model as the server sees it */
  serverModel: string;
  servedName: string;
  /** the address it listens on: loopback where its consumers share the host, every interface on a batch node */
  bindHost: string;
  template?: string;
  extraArgs: string[];
  readyTimeoutMs: number;
  /** host path of the llamafactory engine's inference YAML, and the server's path of it */
  configPath: string;
  serverConfigPath: string;
  /** the command instances that name it in `endpoints`, in plan order */
  consumers: string[];
}

/** What a backend runs: a stage instance, or a server. */
export type JobStage = PlanStage | ServeInstance;

export interface Plan {
  pipeline: string;
  pipelineName: string;
  runDir: string;
  rounds: number;
  backend: BackendName;
  image: string;
  llamafactoryVersion: string;
  /** how the trainer sees the run dir (container path, host path, or "." for manual runs) */
  trainerRunDir: string;
  mounts: Mount[];
  stages: PlanStage[];
  /** the inference servers the stages talk to, in plan order */
  serves: ServeInstance[];
  /** the complete dataset_info.json */
  datasetInfo: Record<string, Record<string, unknown>>;
  allowExtraArgs: boolean;
  /** the GPUs the instances share (the CLI's --gpus, else the pipeline's); each instance's `gpus` is what it asks of it */
  gpuPool: GpuSpec;
  /** the pipeline's max_parallel, if it sets one */
  maxParallel?: number;
}
