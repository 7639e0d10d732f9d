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
  const started = await startedWith(runDir);
  const kept: Partial<RoundOptions> = {};
  for (const k of KEPT) if (started[k] !== undefined) (kept as Record<string, unknown>)[k] = started[k];
  return roundCommand({
    ...kept,
    ...definedOnly(o),
    runDir,
    pipeline: s.pipeline,
    n: s.rounds,
    ...(s.backend ? { backend: s.backend } : {}),
  });
}

/** The plan options of the newest `flux-train round` recorded in the event log. */
async function startedWith(runDir: string): Promise<Partial<RoundOptions>> {
  const argv = readEvents(runDir)
    .events.filter((e) => e.type === 'run-started')
    .map((e) => (e.type === 'run-started' ? e.argv : []))
    .reverse()
    .find((a) => a[0] === 'round');
  return argv ? keptOptions(argv.slice(1)) : {};
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
