import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, EXIT_OF_KIND, isFluxError } from './util/errors.js';
import { redact } from './util/redact.js';
import { installOutputGuards } from './ui/output.js';
import { DiagnosticsError, parseGpus, seconds, wholeNumber } from './commands/context.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').filter(Boolean)];

const gpus = (v: string) => {
  try {
    return parseGpus(v);
  } catch (e) {
    throw new InvalidArgumentError(isFluxError(e) ? `${e.shortMessage}; ${e.fix}.` : String(e));
  }
};

/** Commands are imported when they run, so `--help` stays fast. */
export function buildProgram(): Command {
  const program = new Command('flux-train')
    .description('Run iterative LLaMA-Factory fine-tuning pipelines (ReasonFlux-V2: proposer SFT -> DPO, reasoner DPO, over rounds), resumably.')
    .version('0.1.0')
    .addHelpText(
      'after',
      `
Examples:
  flux-train validate                              check pipelines/reasonflux-v2.yaml
  flux-train round --n 3 --dry-run                 show every stage instance and what would happen
  flux-train round --n 3                           run rounds 1..3 in Docker containers
  flux-train status                                where the run stands
  flux-train config --n 3 --out cfg                LLaMA-Factory YAMLs + run.sh for a manual run
  source <(flux-train completion bash)             tab completion for commands, options and stage keys

Run dir: without --run-dir, a command uses the run dir of --pipeline (runs/<pipeline name>), else the
most recent run under runs/.

Exit codes: 0 ok, 1 a stage failed, 2 bad input, 3 run dir locked, 4 environment (Docker, GPU runtime, image), 130 interrupted.`,
    );

  addPipelineCommands(program);
  addRunCommands(program);
  addRunDirCommands(program);
  addCompletion(program);
  conventions(program);
  return program;
}

/** Commands that read a pipeline and write nothing into a run. */
function addPipelineCommands(program: Command): void {
  program
    .command('validate')
    .description('check the pipeline: schema, LLaMA-Factory keys and types, stage references, datasets (exit 0 or a list of problems)')
    .option('-p, --pipeline <file>', 'pipeline file (default pipelines/reasonflux-v2.yaml)')
    .option('-n, --n <rounds>', 'number of rounds to check', '3')
    .addOption(new Option('--backend <name>', 'where stages would run').choices(['docker', 'local', 'slurm']))
    .option('--no-data-check', 'report missing or mismatched dataset files as warnings (data that lives on another machine)')
    .option('--with-llamafactory <env>', 'also run the generated configs through LLaMA-Factory’s own argument parser in this venv/conda env')
    .addHelpText('after', '\nExamples:\n  flux-train validate --pipeline pipelines/reasonflux-v2.yaml\n  flux-train validate --with-llamafactory .cache/llamafactory-venv')
    .action(async (o) => run(async () => (await import('./commands/validate.js')).validateCommand(o)));

  program
    .command('config')
    .description('write dataset_info.json, one LLaMA-Factory YAML per stage instance, the DeepSpeed JSON and run.sh for a manual run')
    .option('-p, --pipeline <file>', 'pipeline file')
    .option('-n, --n <rounds>', 'number of rounds', '3')
    .usage('--out DIR [options]')
    .option('-o, --out <dir>', 'output folder (required)')
    .option('--stage <id>', 'only this stage (an id for all its rounds, or a key such as r2/proposer_dpo)')
    .addHelpText('after', '\nExamples:\n  flux-train config --n 3 --out cfg && bash cfg/run.sh\n  flux-train config --n 1 --out cfg --stage proposer_sft')
    .action(async (o) => run(async () => (await import('./commands/config.js')).configCommand(o)));

}

/** Options that say how to run, not what: `round` and `resume` both take them. */
const runOptions = (c: Command): Command =>
  c
    .option('--dry-run', 'print the plan and the action for every stage instance; run nothing')
    .option('--json', 'machine-readable output: the plan (with --dry-run) or newline-delimited events')
    .option('-q, --quiet', 'print only failures and the summary')
    .option('--user <uid:gid>', 'user the containers run as (default: you)')
    .option('--detach', 'on Ctrl-C leave the running stage running; `flux-train resume` re-attaches')
    .option('--max-attempts <n>', 'attempts per stage for transient failures (default: pipeline retries.max_attempts)', wholeNumber('--max-attempts', 1, 100))
    .option('--backoff <seconds>', 'first retry delay, doubled each time (default: pipeline retries.backoff_seconds)', seconds('--backoff'))
    .option('--grace <seconds>', 'time between SIGTERM and SIGKILL when stopping a stage', seconds('--grace'), 30)
    .option('--max-parallel <n>', 'stage instances running at once, besides the GPU pool (default: pipeline max_parallel, else 1)', wholeNumber('--max-parallel', 1, 1000))
    .option('--keep-going', 'after a stage fails, still start the stages that do not depend on it')
    .option('--skip-disk-check', 'do not compare free disk with the checkpoint estimate')
    .option('--local-env <dir>', 'venv or conda env with llamafactory-cli (local backend)')
    .option('--hf-cache <dir>', 'host Hugging Face cache mounted into containers (default ~/.cache/huggingface)')
    .addOption(new Option('--poll-ms <ms>', 'progress polling interval').argParser(wholeNumber('--poll-ms', 10, 60_000)).hideHelp());


/** Commands that run (or plan) the pipeline into a run dir. */
function addRunCommands(program: Command): void {
  runOptions(
    program
      .command('round')
      .description('run rounds 1..N of the pipeline; finished stages are skipped, interrupted ones resumed, running ones re-attached')
      .usage('--n N [options]')
      // checked by the command, so that a mistyped option is reported before a missing --n
      .option('-n, --n <rounds>', 'number of rounds (required)', wholeNumber('--n', 1, 10_000))
      .option('-p, --pipeline <file>', 'pipeline file (default pipelines/reasonflux-v2.yaml)')
      .option('-r, --run-dir <dir>', 'run dir (default runs/<pipeline name>)')
      .addOption(new Option('--backend <name>', 'where stages run').choices(['docker', 'local', 'slurm']))
      .option('--image <ref>', 'LLaMA-Factory image (overrides the pipeline)')
      .option('--gpus <spec>', 'the GPU pool: all | N | 0,1,... | 0-7 | none (overrides the pipeline; stages take their gpus from it; none: no GPUs anywhere)', gpus)
      .option('--from <id>', 'rerun this stage and everything after it')
      .option('--only <id>', 'run only this stage (repeatable)', collect, [])
      .option('--restart-stage <id>', 'start this stage fresh; its old outputs are moved aside (repeatable)', collect, [])
      .option('--hash-data', 'identify datasets by content hash instead of size and mtime'),
  )
    .addHelpText('after', '\nExamples:\n  flux-train round --n 3\n  flux-train round --n 3 --dry-run --json\n  flux-train round --n 2 --backend local --local-env .cache/llamafactory-venv\n  flux-train round --n 3 --restart-stage reasoner_dpo')
    .action(async (o) => run(async () => (await import('./commands/round.js')).roundCommand(o)));

  runOptions(
    program
      .command('resume')
      .description('continue the run in a run dir as it was started: same pipeline, rounds, backend, image and GPUs')
      .option('-r, --run-dir <dir>', 'run dir (default: the most recent run under runs/)'),
  )
    .addHelpText(
      'after',
      '\nWhat to run is fixed by the run: to change it (--n, --only, --from, --restart-stage, --gpus, ...) use `flux-train round` with the same --pipeline.\n\nExamples:\n  flux-train resume\n  flux-train resume --run-dir runs/reasonflux-v2',
    )
    .action(async (o) => run(async () => (await import('./commands/resume.js')).resumeCommand(o)));

}

/** Commands that read a run dir. */
function addRunDirCommands(program: Command): void {
  program
    .command('status')
    .description('a table of every stage instance: status, attempts, step, loss, duration, checkpoint, last failure; and the effective training time ratio')
    .option('-r, --run-dir <dir>', 'run dir (default: that of --pipeline, else the most recent run under runs/)')
    .option('-p, --pipeline <file>', 'the pipeline whose run to show')
    .option('-w, --wide', 'also start and end times, output dir and log path')
    .option('--json', 'machine-readable')
    .addHelpText('after', '\nExamples:\n  flux-train status\n  flux-train status --wide\n  flux-train status --run-dir runs/tiny-cpu --json')
    .action(async (o) => run(async () => (await import('./commands/status.js')).statusCommand(o)));

  program
    .command('report')
    .description('write one self-contained HTML page of the run: loss across rounds, a timeline of every attempt, where the time went, the stage graph (works during a run too)')
    .option('-r, --run-dir <dir>', 'run dir (default: that of --pipeline, else the most recent run under runs/)')
    .option('-p, --pipeline <file>', 'the pipeline whose run to report')
    .option('-o, --out <file>', 'where to write it (default <run dir>/report.html)')
    .addHelpText('after', '\nExamples:\n  flux-train report\n  flux-train report --run-dir runs/tiny-cpu --out /tmp/run.html')
    .action(async (o) =>
      run(async () => {
        const { resolveRunDir } = await import('./commands/context.js');
        return (await import('./commands/report.js')).reportCommand({ ...o, runDir: resolveRunDir(o) });
      }),
    );

  program
    .command('logs')
    .description('print the log of a stage’s newest attempt (ID for its latest round, or r<N>/ID)')
    .argument('<stage>', 'stage id or key')
    .option('-r, --run-dir <dir>', 'run dir (default: that of --pipeline, else the most recent run under runs/)')
    .option('-p, --pipeline <file>', 'the pipeline whose run to read')
    .option('-f, --follow', 'keep printing while the stage runs (waits for a stage that has not started yet)')
    .option('--attempt <n>', 'a specific attempt', wholeNumber('--attempt', 1))
    .addHelpText('after', '\nExamples:\n  flux-train logs proposer_sft\n  flux-train logs r2/reasoner_dpo -f')
    .action(async (stage, o) => run(async () => (await import('./commands/logs.js')).logsCommand(stage, o)));

  program
    .command('repair')
    .description('rebuild a corrupt or lost state.json from the event log and the output dirs')
    .option('-r, --run-dir <dir>', 'run dir (default: that of --pipeline, else the most recent run under runs/)')
    .option('-p, --pipeline <file>', 'the pipeline whose run to repair')
    .addHelpText('after', '\nExample:\n  flux-train repair --run-dir runs/reasonflux-v2')
    .action(async (o) =>
      run(async () => {
        const { resolveRunDir } = await import('./commands/context.js');
        return (await import('./commands/repair.js')).repairCommand({ runDir: resolveRunDir(o) });
      }),
    );

  program
    .command('unlock')
    .description('remove the run dir lock by hand: shows its owner, refuses while that owner may be alive unless --force')
    .option('-r, --run-dir <dir>', 'run dir (default: that of --pipeline, else the most recent run under runs/)')
    .option('-p, --pipeline <file>', 'the pipeline whose run to unlock')
    .option('--force', 'remove it even though its owner looks alive')
    .addHelpText('after', '\nExamples:\n  flux-train unlock --run-dir runs/reasonflux-v2\n  flux-train unlock --force')
    .action(async (o) =>
      run(async () => {
        const { resolveRunDir } = await import('./commands/context.js');
        return (await import('./commands/unlock.js')).unlockCommand({ ...o, runDir: resolveRunDir(o) });
      }),
    );
}

function addCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: commands, options, and stage keys of the run for logs, --only, --from, --restart-stage')
    .argument('<shell>', 'bash | zsh | fish')
    .addHelpText('after', '\nExamples:\n  source <(flux-train completion bash)          # or add it to ~/.bashrc\n  flux-train completion zsh > "${fpath[1]}/_flux-train"\n  flux-train completion fish > ~/.config/fish/completions/flux-train.fish')
    .action(async (shell: string) => run(async () => (await import('./commands/completion.js')).completionCommand(shell, program)));

  program
    .command('__complete-stages', { hidden: true })
    .option('-r, --run-dir <dir>')
    .option('-p, --pipeline <file>')
    .action(async (o) => run(async () => (await import('./commands/completion.js')).completeStages(o)));

}

/**
 * A usage error is two lines on stderr and exit 2: the error, then where the help is. Applied to
 * every command in the tree, so commands added later get it too.
 */
function conventions(cmd: Command): void {
  const path = commandPath(cmd);
  cmd.configureOutput({
    outputError: (str, write) => {
      const text = str
        .trim()
        .replace(/^error: /, '')
        .replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)')
        .replace(/\n/g, ' ');
      write(`${path}: ${text}\nsee ${path} --help\n`);
    },
  });
  cmd.exitOverride((e) => {
    throw e;
  });
  cmd.showHelpAfterError(false);
  for (const sub of cmd.commands) conventions(sub);
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

let current = 'flux-train';

async function run(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (e) {
    if (isFluxError(e)) {
      if (e.reason === 'usage') process.stderr.write(redact(`${current}: ${e.shortMessage}; ${e.fix}\nsee ${current} --help\n`));
      else process.stderr.write(`flux-train: ${redact(e.message)}\n`);
      process.exitCode = e.exitCode;
    } else if (e instanceof DiagnosticsError) {
      process.stderr.write(`${redact(e.message)}\n`);
      process.exitCode = EXIT_OF_KIND[e.kind];
    } else {
      process.stderr.write(redact(`flux-train: internal error (a bug; please report it with this trace): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
      process.exitCode = EXIT.internal;
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  installOutputGuards();
  const program = buildProgram();
  program.hook('preAction', (_top, action) => {
    current = commandPath(action);
  });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    // --help and --version end here too; anything else commander rejects is a usage error
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  }
}
