import { resolve } from 'node:path';
import { writeReport } from '../report/write.js';
import { EXIT } from './context.js';

export interface ReportOptions {
  runDir?: string;
  out?: string;
}

/** Writes the run's report page and says where; works on a finished run and on one in progress. */
export async function reportCommand(o: ReportOptions): Promise<number> {
  const runDir = resolve(o.runDir ?? 'runs/reasonflux-v2');
  const r = writeReport(runDir, o.out);
  if (!r.ok) throw r.error;
  process.stdout.write(`wrote ${r.value.path} (${Math.ceil(r.value.bytes / 1024)} KiB in ${Math.round(r.value.ms)} ms)\n`);
  return EXIT.ok;
}
