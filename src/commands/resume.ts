import { checkRunDirPath, runDirOption } from '../state/run-dir.js';
import { hasRun, outputDirOfKey, readState, rebuildState } from '../state/store.js';
import { FluxError } from '../util/errors.js';
import { roundCommand, type RoundOptions } from './round.js';

/** `round` again with the pipeline and rounds recorded in the run dir. */
export async function resumeCommand(o: RoundOptions): Promise<number> {
  const runDir = runDirOption(o.runDir, 'runs/reasonflux-v2');
  checkRunDirPath(runDir);
  const r = readState(runDir);
  if (!r.ok) throw r.error;
  // a lost state.json: the event log still says how the run was started
  const s = r.value ?? (hasRun(runDir) ? rebuildState(runDir, outputDirOfKey(runDir)).state : undefined);
  if (!s?.pipeline || !s.rounds) throw new FluxError('no-run', `nothing to resume in ${runDir} (no state.json with a started run)`, 'start the run with `flux-train round --n N`, or pass --run-dir', 2);
  return roundCommand({ ...o, runDir, pipeline: o.pipeline ?? s.pipeline, n: String(s.rounds), ...(o.backend === undefined && s.backend ? { backend: s.backend } : {}) });
}
