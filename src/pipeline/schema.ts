import { GPU_IDS, expandGpuIds } from './gpus.js';
import { z } from 'zod';
import { RESERVED_NAMES } from '../util/own.js';

/**
 * The pipeline file format. zod checks shapes and types; cross-references (stages, datasets,
 * rounds, LLaMA-Factory keys) are checked afterwards in analyze.ts, where the whole file is known.
 */
export const PIPELINE_FORMAT_VERSION = 1;

const idPattern = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const Id = z
  .string()
  .regex(idPattern, 'must start with a letter and use only letters, digits, "_", "." and "-"')
  .refine((s) => !RESERVED_NAMES.has(s), 'this name is reserved by JavaScript objects; choose another');

/** The most rounds one command may run (`--n`); a stage whose rounds all lie beyond it never runs. */
export const MAX_ROUNDS = 10_000;

/** `all`, a list of rounds, or a range. */
export const RoundsSpec = z.union([
  z.literal('all'),
  z.array(z.number().int().min(1).max(MAX_ROUNDS, `a round number is at most ${MAX_ROUNDS} (the largest --n)`)).min(1),
  z
    .object({
      from: z.number().int().min(1).max(MAX_ROUNDS, `a round number is at most ${MAX_ROUNDS} (the largest --n)`).default(1),
      to: z.number().int().min(1).optional(),
    })
    .strict()
    .refine((r) => r.to === undefined || r.to >= r.from, { message: 'the range is empty (`to` is below `from`), so the stage runs in no round', path: ['to'] }),
]);
export type RoundsSpec = z.infer<typeof RoundsSpec>;

/** Where a model comes from: a declared base model, or a stage output in this or the previous round. */
const DirectModelSource = z.union([
  z.object({ base: Id }).strict(),
  z.object({ stage: Id, round: z.enum(['same', 'previous']).default('same') }).strict(),
]);
export const ModelSource = z.union([
  z.object({ base: Id }).strict(),
  z
    .object({
      stage: Id,
      round: z.enum(['same', 'previous']).default('same'),
      /** used where the referenced instance does not exist (round 1 for `round: previous`) */
      fallback: DirectModelSource.optional(),
    })
    .strict(),
]);
export type ModelSource = z.infer<typeof ModelSource>;

/** One round's source of a dataset: a file, or a file written by a command stage. */
const DatasetSourceOne = z.union([
  z.string().min(1),
  z.object({ path: z.string().min(1) }).strict(),
  z
    .object({ stage: Id, file: z.string().min(1), round: z.enum(['same', 'previous']).default('previous') })
    .strict(),
]);
export type DatasetSourceOne = z.infer<typeof DatasetSourceOne>;

const roundKey = z.union([z.string().regex(/^[0-9]+$/, 'a round number'), z.literal('default')]);

export const DatasetSpec = z
  .object({
    /** one path for every round; `{round}` is replaced by the round number */
    path: z.string().min(1).optional(),
    /** per-round sources: `1: file`, `default: {stage: gen, file: x.jsonl}` */
    source: z.record(roundKey, DatasetSourceOne).optional(),
    formatting: z.enum(['alpaca', 'sharegpt']).default('alpaca'),
    ranking: z.boolean().default(false),
    columns: z
      .object({
        prompt: z.string(),
        query: z.string(),
        response: z.string(),
        history: z.string(),
        messages: z.string(),
        system: z.string(),
        tools: z.string(),
        images: z.string(),
        videos: z.string(),
        audios: z.string(),
        chosen: z.string(),
        rejected: z.string(),
        kto_tag: z.string(),
      })
      .partial()
      .strict()
      .optional(),
    tags: z
      .object({
        role_tag: z.string(),
        content_tag: z.string(),
        user_tag: z.string(),
        assistant_tag: z.string(),
        observation_tag: z.string(),
        function_tag: z.string(),
        system_tag: z.string(),
      })
      .partial()
      .strict()
      .optional(),
    num_samples: z.number().int().positive().optional(),
    split: z.string().optional(),
    /** the Hugging Face dataset id this file is downloaded from (documentation and `scripts/fetch-datasets.sh`) */
    hf_hub_id: z.string().optional(),
  })
  .strict();
export type DatasetSpec = z.infer<typeof DatasetSpec>;

/** A container image with a pinned tag or digest: `latest` or no tag floats, so a resumed run could change trainers. */
const ImageRef = z
  .string()
  .regex(/^[^\s]+:[^\s:/]+$|^[^\s]+@sha256:[0-9a-f]{64}$/, 'an image reference with a pinned tag or digest, e.g. hiyouga/llamafactory:0.9.5')
  .refine((s) => !s.endsWith(':latest'), '`latest` floats; pin a version tag or a digest');

/** `all`, a count, or explicit device ids; `none` for CPU runs. */
export const GpuSpec = z.union([
  z.literal('all'),
  z.literal('none'),
  z.number().int().min(1),
  z.string().regex(GPU_IDS, 'a comma-separated list of GPU ids or ranges such as "0,1" or "0-7"').transform(expandGpuIds),
]);
export type GpuSpec = z.infer<typeof GpuSpec>;

export const DockerSettings = z
  .object({
    /** `host` shares the host IPC namespace (what LLaMA-Factory's compose file does) */
    ipc: z.enum(['host', 'private', 'shareable']).default('host'),
    /** used when ipc is not host, e.g. "16g" */
    shm_size: z.string().regex(/^[0-9]+[kmg]?$/i, 'a size such as 16g or 512m').default('16g'),
    /** -1 means unlimited; refused on hosts without CAP_SYS_RESOURCE, then flux-train warns and runs without it */
    memlock: z.number().int().min(-1).default(-1),
    stack: z.number().int().positive().default(67108864),
    network: z.string().default('host'),
    /** container memory limit, e.g. "200g" (host OOM then shows as OOMKilled) */
    memory: z.string().regex(/^[0-9]+[kmg]?$/i).optional(),
    /** passed through by name from the invoking environment, never written anywhere */
    pass_env: z
      .array(
        z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
          // process.env[name] would find Object.prototype's members (toString is a function there)
          .refine((n) => !(n in Object.prototype), 'this name is reserved by JavaScript objects; no environment variable is called that'),
      )
      .default(['HF_TOKEN', 'WANDB_API_KEY', 'HF_ENDPOINT']),
    /** host path of the Hugging Face cache shared by every stage; default ~/.cache/huggingface */
    hf_cache: z.string().optional(),
  })
  .strict();
export type DockerSettings = z.infer<typeof DockerSettings>;

export const LocalSettings = z
  .object({
    /** a venv or conda env (its bin/llamafactory-cli is used); absent: llamafactory-cli on PATH */
    env: z.string().optional(),
  })
  .strict();

export const SlurmSettings = z
  .object({
    nodes: z.number().int().min(1).default(1),
    gpus_per_node: z.number().int().min(0).default(8),
    cpus_per_task: z.number().int().min(1).optional(),
    mem: z.string().optional(),
    time: z.string().optional(),
    partition: z.string().optional(),
    account: z.string().optional(),
    qos: z.string().optional(),
    extra: z.array(z.string()).default([]),
    runtime: z.enum(['none', 'pyxis', 'apptainer', 'docker']).default('none'),
    /** tasks (one per node); more tasks than nodes only to rehearse multi-node wiring on one node */
    tasks: z.number().int().min(1).optional(),
    /** first interval between job-state probes; it backs off to 30 s */
    poll_seconds: z.number().positive().default(2),
  })
  .strict();

export const BackendName = z.enum(['docker', 'local', 'slurm']);
export type BackendName = z.infer<typeof BackendName>;

export const RetrySettings = z
  .object({
    max_attempts: z.number().int().min(1).default(3),
    backoff_seconds: z.number().min(0).default(30),
  })
  .strict();

const StageCommon = {
  id: Id,
  rounds: RoundsSpec.default('all'),
  gpus: GpuSpec.optional(),
  /** overrides the pipeline image for this stage */
  image: ImageRef.optional(),
  after: z.array(Id).default([]),
  slurm: SlurmSettings.partial().optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
};

export const TrainStage = z
  .object({
    ...StageCommon,
    kind: z.literal('train'),
    stage: z.enum(['sft', 'dpo', 'pt', 'rm', 'kto', 'ppo']),
    model: ModelSource,
    ref_model: ModelSource.optional(),
    datasets: z.array(Id).min(1),
    /** LLaMA-Factory arguments; override `defaults` */
    args: z.record(z.string(), z.unknown()).default({}),
    /** DeepSpeed config: a name from configs/deepspeed (z2, z3, z3_offload) or a path */
    deepspeed: z.string().optional(),
  })
  .strict();
export type TrainStage = z.infer<typeof TrainStage>;

export const CommandStage = z
  .object({
    ...StageCommon,
    kind: z.literal('command'),
    command: z.array(z.string()).min(1),
    /** models handed to the command as FLUX_MODEL_<NAME> */
    inputs: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), ModelSource).default({}),
    /** servers handed to the command as FLUX_ENDPOINT_<NAME> (base URL ending /v1) and FLUX_MODEL_<NAME> (the served name): a serve stage of the same round */
    endpoints: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), Id).default({}),
    /** files the command must write into its output dir; checked before anything consumes them */
    outputs: z.array(z.string().min(1)).default([]),
    workdir: z.string().optional(),
  })
  .strict();
export type CommandStage = z.infer<typeof CommandStage>;

export const SERVE_ENGINE_NAMES = ['sglang', 'vllm', 'llamafactory'] as const;
export type ServeEngineName = (typeof SERVE_ENGINE_NAMES)[number];

/** An OpenAI-compatible inference server for a model, up while the command stages that name it in `endpoints` run. */
export const ServeStage = z
  .object({
    ...StageCommon,
    kind: z.literal('serve'),
    engine: z.enum(SERVE_ENGINE_NAMES),
    model: ModelSource,
    /** the chat template of the llamafactory engine's inference YAML (required there) */
    template: z.string().min(1).optional(),
    /** what GET /v1/models lists and consumers send as `model`; default: the stage id */
    served_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:\/-]*$/, 'letters, digits and "_.:/-"').max(200).optional(),
    /** extra engine arguments, appended to the launch line */
    args: z.array(z.string()).default([]),
    /** how long GET /v1/models may take to list the model: a 32B model loads in minutes */
    ready_timeout_seconds: z.number().positive().max(86_400).default(1800),
  })
  .strict();
export type ServeStage = z.infer<typeof ServeStage>;

export const StageSpec = z.discriminatedUnion('kind', [TrainStage, CommandStage, ServeStage]);
export type StageSpec = z.infer<typeof StageSpec>;

export const PipelineSpec = z
  .object({
    name: Id,
    format_version: z.literal(PIPELINE_FORMAT_VERSION).default(PIPELINE_FORMAT_VERSION),
    description: z.string().optional(),
    llamafactory: z
      .object({
        image: ImageRef,
        version: z.string().min(1),
      })
      .strict(),
    models: z.record(Id, z.string().min(1)).refine((m) => Object.keys(m).length > 0, 'declare at least one base model'),
    datasets: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/), DatasetSpec),
    defaults: z.record(z.string(), z.unknown()).default({}),
    stages: z.array(StageSpec).min(1),
    backend: BackendName.default('docker'),
    gpus: GpuSpec.default('all'),
    /** how many stage instances may run at once (besides the GPU pool); --max-parallel overrides it */
    max_parallel: z.number().int().min(1).optional(),
    docker: DockerSettings.default(DockerSettings.parse({})),
    local: LocalSettings.default({}),
    slurm: SlurmSettings.default(SlurmSettings.parse({})),
    retries: RetrySettings.default(RetrySettings.parse({})),
    /** mirrors LLaMA-Factory's ALLOW_EXTRA_ARGS: unknown keys become warnings and ALLOW_EXTRA_ARGS=1 is set */
    allow_extra_args: z.boolean().default(false),
  })
  .strict();
export type PipelineSpec = z.infer<typeof PipelineSpec>;
