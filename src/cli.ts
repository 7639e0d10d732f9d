import { Command, Option } from 'commander';
import { isFluxError } from './util/errors.js';
import { redact } from './util/redact.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').filter(Boolean)];

/** Commands are imported when they run, so `--help` stays fast. */
export function buildProgram(): Command {
  const program = new Command('flux-train')
    .description('Run iterative LLaMA-Factory fine-tuning pipelines (ReasonFlux-V2: proposer SFT -> DPO, reasoner DPO, over rounds), resumably.')
    .version('0.1.0')
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Examples:
  flux-train validate                              check pipelines/reasonflux-v2.yaml
  flux-train round --n 3 --dry-run                 show every stage instance and what would happen
  flux-train round --n 3                           run rounds 1..3 in Docker containers
  flux-train status                                where the run stands
  flux-train config --n 3 --out cfg                LLaMA-Factory YAMLs + run.sh for a manual run

Exit codes: 0 ok, 1 a stage failed, 2 bad input, 3 run dir locked, 4 environment (Docker, GPU runtime, image), 130 interrupted.`,
    );

  program
    .command('validate')
    .description('check the pipeline: schema, LLaMA-Factory keys and types, stage references, datasets (exit 0 or a list of problems)')
    .option('-p, --pipeline <file>', 'pipeline file (default pipelines/reasonflux-v2.yaml)')
    .option('-n, --n <rounds>', 'number of rounds to check', '3')
    .option('--backend <name>', 'docker | local | slurm')
    .option('--no-data-check', 'report missing or mismatched dataset files as warnings (data that lives on another machine)')
    .option('--with-llamafactory <env>', 'also run the generated configs through LLaMA-Factory’s own argument parser in this venv/conda env')
    .addHelpText('after', '\nExamples:\n  flux-train validate --pipeline pipelines/reasonflux-v2.yaml\n  flux-train validate --with-llamafactory .cache/llamafactory-venv')
    .action(async (o) => run(async () => (await import('./commands/validate.js')).validateCommand(o)));

  program
    .command('config')
    .description('write dataset_info.json, one LLaMA-Factory YAML per stage instance, the DeepSpeed JSON and run.sh for a manual run')
    .option('-p, --pipeline <file>', 'pipeline file')
    .option('-n, --n <rounds>', 'number of rounds', '3')
    .option('-o, --out <dir>', 'output folder')
    .option('--stage <id>', 'only this stage (an id for all its rounds, or a key such as r2/proposer_dpo)')
    .addHelpText('after', '\nExamples:\n  flux-train config --n 3 --out cfg && bash cfg/run.sh\n  flux-train config --n 1 --out cfg --stage proposer_sft')
    .action(async (o) => run(async () => (await import('./commands/config.js')).configCommand(o)));

  const roundOptions = (c: Command) =>
    c
      .option('-p, --pipeline <file>', 'pipeline file')
      .option('-r, --run-dir <dir>', 'run dir (default runs/<pipeline name>)')
      .option('--dry-run', 'print the plan and the action for every stage instance; run nothing')
      .option('--json', 'machine-readable output: the plan (with --dry-run) or newline-delimited events')
      .option('-q, --quiet', 'print only failures and the summary')
      .addOption(new Option('--backend <name>', 'where stages run').choices(['docker', 'local', 'slurm']))
      .option('--image <ref>', 'LLaMA-Factory image (overrides the pipeline)')
      .option('--gpus <spec>', 'all | N | 0,1,... | none (overrides the pipeline and its stages)')
      .option('--user <uid:gid>', 'user the containers run as (default: you)')
      .option('--detach', 'on Ctrl-C leave the running stage running; `flux-train resume` re-attaches')
      .option('--from <id>', 'rerun this stage and everything after it')
      .option('--only <id>', 'run only this stage (repeatable)', collect, [])
      .option('--restart-stage <id>', 'start this stage fresh; its old outputs are moved aside (repeatable)', collect, [])
      .option('--max-attempts <n>', 'attempts per stage for transient failures (default: pipeline retries.max_attempts)')
      .option('--backoff <seconds>', 'first retry delay, doubled each time (default: pipeline retries.backoff_seconds)')
      .option('--grace <seconds>', 'time between SIGTERM and SIGKILL when stopping a stage', '30')
      .option('--hash-data', 'identify datasets by content hash instead of size and mtime')
      .option('--skip-disk-check', 'do not compare free disk with the checkpoint estimate')
      .option('--local-env <dir>', 'venv or conda env with llamafactory-cli (local backend)')
      .option('--hf-cache <dir>', 'host Hugging Face cache mounted into containers (default ~/.cache/huggingface)')
      .addOption(new Option('--poll-ms <ms>', 'progress polling interval').hideHelp());

  roundOptions(
    program
      .command('round')
      .description('run rounds 1..N of the pipeline; finished stages are skipped, interrupted ones resumed, running ones re-attached')
      .option('-n, --n <rounds>', 'number of rounds'),
  )
    .addHelpText('after', '\nExamples:\n  flux-train round --n 3\n  flux-train round --n 3 --dry-run --json\n  flux-train round --n 2 --backend local --local-env .cache/llamafactory-venv\n  flux-train round --n 3 --restart-stage reasoner_dpo')
    .action(async (o) => run(async () => (await import('./commands/round.js')).roundCommand(o)));

  roundOptions(program.command('resume').description('continue the run in a run dir as it was started (same pipeline and rounds)'))
    .addHelpText('after', '\nExamples:\n  flux-train resume\n  flux-train resume --run-dir runs/reasonflux-v2')
    .action(async (o) => run(async () => (await import('./commands/resume.js')).resumeCommand(o)));

  program
    .command('status')
    .description('a table of every stage instance: status, attempts, step, loss, duration, checkpoint, last failure; and the effective training time ratio')
    .option('-r, --run-dir <dir>', 'run dir', 'runs/reasonflux-v2')
    .option('--json', 'machine-readable')
    .addHelpText('after', '\nExamples:\n  flux-train status\n  flux-train status --run-dir runs/tiny-cpu --json')
    .action(async (o) => run(async () => (await import('./commands/status.js')).statusCommand(o)));

  program
    .command('report')
    .description('write one self-contained HTML page of the run: loss across rounds, a timeline of every attempt, where the time went, the stage graph (works during a run too)')
    .option('-r, --run-dir <dir>', 'run dir', 'runs/reasonflux-v2')
    .option('-o, --out <file>', 'where to write it (default <run dir>/report.html)')
    .addHelpText('after', '\nExamples:\n  flux-train report\n  flux-train report --run-dir runs/tiny-cpu --out /tmp/run.html')
    .action(async (o) => run(async () => (await import('./commands/report.js')).reportCommand(o)));

  program
    .command('logs')
    .description('print the log of a stage’s newest attempt (ID for its latest round, or r<N>/ID)')
    .argument('<stage>', 'stage id or key')
    .option('-r, --run-dir <dir>', 'run dir', 'runs/reasonflux-v2')
    .option('-f, --follow', 'keep printing while the stage runs')
    .option('--attempt <n>', 'a specific attempt')
    .addHelpText('after', '\nExamples:\n  flux-train logs proposer_sft\n  flux-train logs r2/reasoner_dpo -f')
    .action(async (stage, o) => run(async () => (await import('./commands/logs.js')).logsCommand(stage, o)));

  program
    .command('repair')
    .description('rebuild a corrupt or lost state.json from the event log and the output dirs')
    .option('-r, --run-dir <dir>', 'run dir', 'runs/reasonflux-v2')
    .addHelpText('after', '\nExample:\n  flux-train repair --run-dir runs/reasonflux-v2')
    .action(async (o) => run(async () => (await import('./commands/repair.js')).repairCommand(o)));

  program
    .command('unlock')
    .description('remove the run dir lock by hand: shows its owner, refuses while that owner may be alive unless --force')
    .option('-r, --run-dir <dir>', 'run dir', 'runs/reasonflux-v2')
    .option('--force', 'remove it even though its owner looks alive')
    .addHelpText('after', '\nExamples:\n  flux-train unlock --run-dir runs/reasonflux-v2\n  flux-train unlock --force')
    .action(async (o) => run(async () => (await import('./commands/unlock.js')).unlockCommand(o)));

  return program;
}

async function run(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (e) {
    if (isFluxError(e)) {
      process.stderr.write(`flux-train: ${redact(e.message)}\n`);
      process.exitCode = e.exitCode;
    } else if (e instanceof Error && e.name === 'DiagnosticsError') {
      process.stderr.write(`${redact(e.message)}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(redact(`flux-train: internal error (a bug; please report it with this trace): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
      process.exitCode = 70;
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
