/**
 * Why an attempt failed, decided from the exit code, OOMKilled and signatures in the last log
 * lines. The class decides the retry policy: transient causes are retried (resuming from the last
 * checkpoint), deterministic ones stop at once with the fix.
 */
export type CauseCode =
  | 'gpu-oom'
  | 'host-oom'
  | 'nccl'
  | 'disk-full'
  | 'killed'
  | 'config-unknown-key'
  | 'config-undefined-dataset'
  | 'config-no-valid-samples'
  | 'config-dataset-stage'
  | 'config-output-dir-not-empty'
  | 'config-error'
  | 'missing-model'
  | 'no-gpu-runtime'
  | 'image-missing'
  | 'missing-outputs'
  | 'bad-metrics'
  | 'serve-not-ready'
  | 'serve-died'
  | 'timeout'
  | 'node-failure'
  | 'preempted'
  | 'interrupted'
  | 'unknown';

export type CauseClass = 'transient' | 'deterministic' | 'interrupted';

export interface Cause {
  code: CauseCode;
  class: CauseClass;
  title: string;
  fix: string;
  evidence: string[];
}

interface Signature {
  code: CauseCode;
  re: RegExp;
}

// Order matters: the first signature found (scanning from the end of the log) wins.
const SIGNATURES: Signature[] = [
  { code: 'gpu-oom', re: /CUDA out of memory|torch\.(cuda\.)?OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|HIP out of memory/ },
  { code: 'disk-full', re: /No space left on device|ENOSPC|Disk quota exceeded/ },
  { code: 'config-unknown-key', re: /Some keys are not used by the HfArgumentParser|Some specified arguments are not used by the HfArgumentParser/ },
  { code: 'config-undefined-dataset', re: /Undefined dataset .* in dataset_info\.json|Cannot open .*dataset_info\.json/ },
  { code: 'config-no-valid-samples', re: /Cannot find valid samples/ },
  { code: 'config-dataset-stage', re: /The dataset is not applicable in the current training stage/ },
  { code: 'config-output-dir-not-empty', re: /Output directory already exists and is not empty/ },
  { code: 'missing-model', re: /is not a local folder and is not a valid model identifier|Repository Not Found|We couldn't connect to .* to load the files|OSError: .*does not appear to have a file named config\.json|Can't load (the )?(tokenizer|config) for|LocalEntryNotFoundError|model directory .* (does not exist|has no weights)|Error no file named .* found in directory/i },
  { code: 'nccl', re: /NCCL (error|WARN|timeout)|ncclInternalError|ncclSystemError|Watchdog caught collective operation timeout|ProcessGroupNCCL.*(timeout|Timeout)|NCCL communicator was aborted|torch\.distributed\.DistBackendError/ },
  { code: 'config-error', re: /^(ValueError|TypeError|KeyError|AssertionError|ImportError|ModuleNotFoundError)\b.*|File types should be identical|Please use `FORCE_TORCHRUN=1`|Please launch distributed training/ },
];

const INFO: Record<CauseCode, { class: CauseClass; title: string; fix: string }> = {
  'gpu-oom': {
    class: 'deterministic',
    title: 'GPU out of memory',
    fix: 'lower per_device_train_batch_size and raise gradient_accumulation_steps by the same factor (the effective batch stays the same), lower cutoff_len, or use a stronger DeepSpeed preset (z3_offload)',
  },
  'host-oom': {
    class: 'transient',
    title: 'host out of memory (the container was OOM-killed)',
    fix: 'lower preprocessing_num_workers / dataloader_num_workers, raise the container memory limit (docker.memory), or free host RAM; ZeRO-3 CPU offload needs ~16 bytes of host RAM per parameter',
  },
  nccl: {
    class: 'transient',
    title: 'NCCL error or timeout between GPUs',
    fix: 'usually a hiccup: flux-train retries from the last checkpoint. If it repeats: check ipc: host / shm size, ddp_timeout, and NCCL_DEBUG=INFO output',
  },
  'disk-full': {
    class: 'deterministic',
    title: 'disk full',
    fix: 'free space in the run dir (old checkpoints, trash/), lower save_total_limit, or move --run-dir to a larger disk; then rerun the same command to resume',
  },
  killed: {
    class: 'transient',
    title: 'killed from outside (SIGKILL without OOM)',
    fix: 'something outside flux-train killed the trainer (a person, a scheduler, the kernel); flux-train retries from the last checkpoint',
  },
  'config-unknown-key': {
    class: 'deterministic',
    title: 'LLaMA-Factory refused an unknown argument',
    fix: 'remove or correct the key named in the log; the pipeline key set may not match the image version (scripts/update-llamafactory-keys.py regenerates it)',
  },
  'config-undefined-dataset': {
    class: 'deterministic',
    title: 'dataset not found in dataset_info.json',
    fix: 'check the dataset names of the stage and the generated dataset_info.json in the run dir',
  },
  'config-no-valid-samples': {
    class: 'deterministic',
    title: 'no valid samples in the dataset',
    fix: 'the records do not match formatting/columns/ranking: for sharegpt preference data the conversation must end on a user turn and chosen/rejected be message objects (flux-train validate checks the first record)',
  },
  'config-dataset-stage': {
    class: 'deterministic',
    title: 'dataset kind does not fit the stage',
    fix: 'DPO/RM need `ranking: true` datasets, SFT needs non-ranking ones',
  },
  'config-output-dir-not-empty': {
    class: 'deterministic',
    title: 'output dir holds weights but no checkpoint',
    fix: 'run `flux-train round --restart-stage ID` to move the old outputs aside and start the stage fresh',
  },
  'config-error': {
    class: 'deterministic',
    title: 'LLaMA-Factory rejected the configuration',
    fix: 'read the evidence lines; `flux-train validate --with-llamafactory ENV` checks configs with LLaMA-Factory’s own parser before any GPU is claimed',
  },
  'missing-model': {
    class: 'deterministic',
    title: 'model not found',
    fix: 'check the model path or hub id (models: in the pipeline); for gated hub models export HF_TOKEN; an upstream stage output must contain config.json and weights',
  },
  'no-gpu-runtime': {
    class: 'deterministic',
    title: 'no NVIDIA container runtime',
    fix: 'install the NVIDIA Container Toolkit (nvidia-ctk runtime configure --runtime=docker, then restart Docker), or pass --gpus none for CPU-only images',
  },
  'image-missing': {
    class: 'deterministic',
    title: 'image not available',
    fix: 'docker pull the image (or docker load it on air-gapped hosts), or pass --image REF',
  },
  'missing-outputs': {
    class: 'deterministic',
    title: 'the stage exited 0 but its outputs are incomplete',
    fix: 'the trainer did not write its final files (train_results.json, trainer_state.json, config.json, weights) or a command stage missed a declared output; read the log',
  },
  'bad-metrics': {
    class: 'deterministic',
    title: 'the stage wrote a metrics.json flux-train cannot read',
    fix: 'write {"<benchmark>": {"<metric>": <number>, ...}, ...} to $FLUX_OUTPUT_DIR/metrics.json, e.g. {"aime24": {"accuracy": 0.43, "n": 30}}, or no metrics.json at all',
  },
  'serve-not-ready': {
    class: 'deterministic',
    title: 'a server it needs did not get ready',
    fix: "read the server's log (evidence above; `flux-train logs` lists it): a wrong model path, an engine flag, or a port clash stop it early; if it was still loading, raise the serve stage's ready_timeout_seconds",
  },
  'serve-died': {
    class: 'transient',
    title: 'a server it used stopped while it ran',
    fix: "read the server's log (the evidence names it); flux-train starts the server again for the retry",
  },
  timeout: { class: 'transient', title: 'time limit reached', fix: 'flux-train resubmits from the last checkpoint; raise the time limit to avoid the restarts' },
  'node-failure': { class: 'transient', title: 'node failure', fix: 'flux-train resubmits from the last checkpoint' },
  preempted: { class: 'transient', title: 'preempted', fix: 'flux-train resubmits from the last checkpoint' },
  interrupted: { class: 'interrupted', title: 'interrupted', fix: 'rerun the same command (or flux-train resume) to continue from the last checkpoint' },
  unknown: {
    class: 'deterministic',
    title: 'failed',
    fix: 'read the evidence lines and the full log (flux-train logs ID); rerun the same command to resume once fixed',
  },
};

/**
 * What a cause code means. Total: codes come back from state.json and events.jsonl, which may hold a
 * code from another flux-train version or a hand edit ("bogus", or "toString", which a bare INFO[code]
 * would find on Object.prototype); those read as an unknown cause, never as a crash.
 */
export function causeInfo(code: string): { class: CauseClass; title: string; fix: string } {
  if (isCauseCode(code)) return INFO[code];
  return { class: 'deterministic', title: `a cause this flux-train does not know ("${code}")`, fix: INFO.unknown.fix };
}

export function isCauseCode(code: string): code is CauseCode {
  return Object.hasOwn(INFO, code);
}

export interface ExitFacts {
  exitCode: number | null;
  oomKilled: boolean;
  /** last lines of the attempt's log, oldest first */
  logTail: string[];
  /** the job never ran: the backend's message, and the generic cause when the backend recognised its own error */
  startFailure?: { message: string; cause?: CauseCode | undefined };
  /** the backend's own word on why the job ended badly (a batch scheduler's final state), mapped to a cause when it names one */
  verdict?: { cause: CauseCode | undefined; evidence: string; logLines: number };
}

/** Names the cause of a failed attempt: the backend's verdict first, then the log's last lines, then the exit code. */
export function classify(f: ExitFacts): Cause {
  const mk = (code: CauseCode, evidence: string[]): Cause => ({ code, ...INFO[code], evidence });
  if (f.startFailure !== undefined) return mk(f.startFailure.cause ?? 'unknown', [f.startFailure.message]);
  if (f.verdict?.cause !== undefined) return mk(f.verdict.cause, [f.verdict.evidence, ...(f.verdict.logLines > 0 ? f.logTail.slice(-f.verdict.logLines) : [])]);
  // scan from the end so the error nearest to the exit wins over earlier warnings
  for (let i = f.logTail.length - 1; i >= 0; i--) {
    const line = f.logTail[i] as string;
    for (const sig of SIGNATURES) {
      if (sig.re.test(line)) {
        if (sig.code === 'config-error' && f.exitCode === 0) continue;
        return mk(sig.code, evidenceAround(f.logTail, i));
      }
    }
  }
  if (f.oomKilled) return mk('host-oom', [`container State.OOMKilled=true (exit code ${f.exitCode ?? 'none'})`, ...f.logTail.slice(-3)]);
  if (f.exitCode === 137) return mk('killed', [`exit code 137 (SIGKILL) with OOMKilled=false`, ...f.logTail.slice(-3)]);
  if (f.exitCode === 130 || f.exitCode === 143) return mk('interrupted', [`exit code ${f.exitCode} (${f.exitCode === 130 ? 'SIGINT' : 'SIGTERM'})`]);
  return mk('unknown', [`exit code ${f.exitCode ?? 'none'}`, ...f.logTail.slice(-5)]);
}

function evidenceAround(lines: string[], i: number): string[] {
  return lines.slice(Math.max(0, i - 2), i + 1).map((l) => (l.length > 300 ? `${l.slice(0, 297)}...` : l));
}

/** The one-paragraph failure report: cause, evidence, what to do. */
export function failureParagraph(key: string, attempt: number, cause: Cause, exitCode: number | null, oomKilled: boolean, willRetry: boolean, logPath: string): string {
  const how = exitCode === null ? 'could not start' : `exited with code ${exitCode}${oomKilled ? ' and was OOM-killed' : ''}`;
  const ev = cause.evidence.length > 0 ? ` Evidence: ${cause.evidence.map((l) => `"${l.trim()}"`).join(' / ')}.` : '';
  const next = willRetry ? ' flux-train retries it from the last checkpoint.' : ` To do: ${cause.fix}.`;
  return `${key} (attempt ${attempt}) ${how}: ${cause.title}.${ev}${next} Full log: ${logPath}`;
}
