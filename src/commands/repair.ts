import { join, resolve } from 'node:path';
import { repairState } from '../state/store.js';
import { EXIT } from './context.js';

export async function repairCommand(o: { runDir?: string }): Promise<number> {
  const runDir = resolve(o.runDir ?? 'runs/reasonflux-v2');
  // output dirs follow from the key: outputs/r<N>/<id>
  const report = repairState(runDir, (key) => join(runDir, 'outputs', ...key.split('/')));
  process.stdout.write(
    `rebuilt ${join(runDir, 'state.json')} from ${report.events} events${report.badLines ? ` (${report.badLines} unreadable line(s) skipped)` : ''}\n` +
      (report.movedCorrupt ? `the old state file is kept as ${report.movedCorrupt}\n` : '') +
      `finished and still intact: ${report.keptDone.join(', ') || 'none'}\n` +
      report.droppedDone.map((d) => `no longer counted as finished: ${d.key} (${d.why})\n`).join('') +
      'run the same `flux-train round` command (or `flux-train resume`) to continue\n',
  );
  return EXIT.ok;
}
