import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkRunDirPath } from '../state/run-dir.js';
import { hasRun, outputDirOfKey, readEvents, readState, rebuildState } from '../state/store.js';
import { FluxError } from '../util/errors.js';
import { parseGpus, resolveRunDir } from './context.js';
import { roundCommand, type RoundOptions } from './round.js';

/** The options of `resume`: how to run, never what (that is fixed by the run it continues). */
export type ResumeOptions = Pick<RoundOptions, 'runDir' | 'dryRun' | 'json' | 'quiet' | 'user' | 'detach' | 'maxAttempts' | 'backoff' | 'grace' | 'skipDiskCheck' | 'localEnv' | 'hfCache' | 'pollMs'>;

/** What the run was started with and a resume must keep: the plan depends on these. */
const KEPT = ['pipeline', 'backend', 'image', 'gpus', 'hashData', 'hfCache', 'localEnv', 'user', 'only'] as const;

/** `round` again with the pipeline, rounds and plan options recorded in the run dir. */
export async function resumeCommand(o: ResumeOptions): Promise<number> {
  const runDir = resolveRunDir(o);
  checkRunDirPath(runDir);
  const r = readState(runDir);
  if (!r.ok) throw r.error;
  // a lost state.json: the event log still says how the run was started
  const s = r.value ?? (hasRun(runDir) ? rebuildState(runDir, outputDirOfKey(runDir)).state : undefined);
  if (!s?.pipeline || !s.rounds) throw new FluxError('no-run', `nothing to resume in ${runDir} (no state.json with a started run)`, 'start the run with `flux-train round --n N`, or pass --run-dir', 'bad-input');
  const started = startedWith(runDir);
  const kept: Partial<RoundOptions> = {};
  for (const k of KEPT) if (started.options[k] !== undefined) (kept as Record<string, unknown>)[k] = started.options[k];
  // paths in the recorded command line were typed relative to the directory that round ran in
  for (const k of ['localEnv', 'hfCache'] as const) if (kept[k] !== undefined) kept[k] = resolve(started.cwd, kept[k]);
  const pipeline = started.pipelinePath ?? resolve(started.cwd, s.pipeline);
  if (!existsSync(pipeline)) {
    throw new FluxError(
      'pipeline-gone',
      `the run's pipeline ${pipeline} is gone (the run was started with \`--pipeline ${s.pipeline}\`${started.recordedCwd ? ` in ${started.recordedCwd}` : ', and is looked for from the current directory'})`,
      `put the pipeline back at ${pipeline}${started.recordedCwd ? '' : ', or run resume from the directory the run was started in'}; or continue with \`flux-train round --n ${s.rounds} --pipeline FILE --run-dir ${runDir}\` (resume takes no --pipeline)`,
      'bad-input',
    );
  }
  return roundCommand({
    ...kept,
    ...definedOnly(o),
    runDir,
    pipeline,
    n: s.rounds,
    ...(s.backend ? { backend: s.backend } : {}),
  });
}

interface StartedWith {
  options: Partial<RoundOptions>;
  /** the directory relative paths are resolved against: the recorded one, else (older runs) the current one */
  cwd: string;
  recordedCwd: string | undefined;
  pipelinePath: string | undefined;
}

/** The plan options of the newest `flux-train round` recorded in the event log, and where it ran. */
function startedWith(runDir: string): StartedWith {
  const started = readEvents(runDir)
    .events.flatMap((e) => (e.type === 'run-started' ? [e] : []))
    .reverse();
  const round = started.find((e) => e.argv[0] === 'round');
  // the newest session names the file (a resume records the absolute path it used)
  const newest = started[0];
  const recordedCwd = round?.cwd;
  return {
    options: round ? keptOptions(round.argv.slice(1)) : {},
    cwd: recordedCwd ?? process.cwd(),
    recordedCwd,
    pipelinePath: newest?.pipelinePath,
  };
}

const VALUED: Record<string, Exclude<(typeof KEPT)[number], 'hashData'>> = {
  '--pipeline': 'pipeline',
  '-p': 'pipeline',
  '--backend': 'backend',
  '--image': 'image',
  '--gpus': 'gpus',
  '--hf-cache': 'hfCache',
  '--local-env': 'localEnv',
  '--user': 'user',
  '--only': 'only',
};

/**
 * Reads back the options a resume keeps from a recorded `round` command line (it was valid when it
 * ran); other options are not kept, and a value that no longer parses is dropped.
 */
export function keptOptions(args: string[]): Partial<RoundOptions> {
  const out: Partial<RoundOptions> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--hash-data') {
      out.hashData = true;
      continue;
    }
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const key = VALUED[flag];
    if (key === undefined) continue;
    const value = flag !== a ? a.slice(eq + 1) : args[++i];
    if (value === undefined) break;
    if (key === 'only') out.only = [...(out.only ?? []), ...value.split(',').filter(Boolean)];
    else if (key === 'gpus') {
      try {
        const g = parseGpus(value);
        if (g !== undefined) out.gpus = g;
      } catch {
        // recorded by another version: the pipeline's gpus hold
      }
    } else out[key] = value;
  }
  return out;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
