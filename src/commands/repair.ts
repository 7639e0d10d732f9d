import { RunLock } from '../state/lock.js';
import { checkRunDirPath, runDirOption } from '../state/run-dir.js';
import { hasRun, outputDirOfKey, repairState, EVENTS_FILE, STATE_FILE } from '../state/store.js';
import { FluxError } from '../util/errors.js';
import { RunDir } from '../util/run-layout.js';
import { redact } from '../util/redact.js';
import { EXIT } from './context.js';

/** Rebuilds state.json from the event log and the output dirs, under the run dir's lock. */
export async function repairCommand(o: { runDir?: string }): Promise<number> {
  const runDir = runDirOption(o.runDir, 'runs/reasonflux-v2');
  checkRunDirPath(runDir);
  if (!hasRun(runDir)) {
    throw new FluxError('no-run', `no flux-train run in ${runDir} (neither ${STATE_FILE} nor ${EVENTS_FILE}); nothing to repair`, 'pass the run dir of an existing run with --run-dir', 'bad-input');
  }
  const lock = RunLock.acquire(runDir, 'flux-train repair');
  if (!lock.ok) throw lock.error;
  try {
    if (lock.value.takenOver) process.stderr.write(`warning: took over the lock of ${runDir}: ${lock.value.takenOver.why}\n`);
    const report = repairState(runDir, outputDirOfKey(runDir));
    const bad = report.badLines.slice(0, 20).map((b) => `  skipped ${EVENTS_FILE}${b.line > 0 ? ` line ${b.line}` : ''}: ${b.why}\n`);
    const more = report.badLines.length > 20 ? `  ... and ${report.badLines.length - 20} more\n` : '';
    process.stdout.write(
      redact(
        `rebuilt ${new RunDir(runDir).stateFile} from ${report.events} events${report.badLines.length ? ` (${report.badLines.length} unreadable line(s) skipped)` : ''}\n` +
          bad.join('') +
          more +
          (report.movedCorrupt ? `the old state file is kept as ${report.movedCorrupt}\n` : '') +
          `finished and still intact: ${[...report.keptDone, ...report.keptFromState].join(', ') || 'none'}\n` +
          (report.keptFromState.length > 0 ? `kept from the previous state file (the event log lost them, their outputs still match): ${report.keptFromState.join(', ')}\n` : '') +
          report.droppedDone.map((d) => `no longer counted as finished: ${d.key} (${d.why})\n`).join('') +
          'run the same `flux-train round` command (or `flux-train resume`) to continue\n',
      ),
    );
  } finally {
    lock.value.release();
  }
  return EXIT.ok;
}
