import { relative, resolve, join } from 'node:path';
import { REPORT_FILE } from '../util/run-layout.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FluxError } from '../util/errors.js';
import { err, ok, type Result } from '../util/result.js';
import { collectReport, type CollectOptions } from './collect.js';
import { renderReport } from './html.js';

export { REPORT_FILE };

export interface WrittenReport {
  path: string;
  bytes: number;
  ms: number;
}

/**
 * Reads the run dir and writes its report (report.html in the run dir unless `out` says otherwise),
 * atomically, so a browser reloading it mid-write never sees half a page. A cheap call (well under a
 * second for a large run): `round` can call it when it ends, whatever the outcome.
 */
export function writeReport(runDir: string, out?: string, o: CollectOptions = {}): Result<WrittenReport, FluxError> {
  const t0 = performance.now();
  const data = collectReport(runDir, o);
  if (!data.ok) return err(data.error);
  const html = renderReport(data.value);
  const path = resolve(out ?? join(runDir, REPORT_FILE));
  try {
    writeFileAtomic(path, html);
  } catch (e) {
    return err(new FluxError('report-write', `cannot write the report to ${path}: ${(e as Error).message}`, 'pass a writable file with --out', 'bad-input', { cause: e }));
  }
  return ok({ path, bytes: Buffer.byteLength(html), ms: performance.now() - t0 });
}

/** The line for the terminal summary: `report: runs/<name>/report.html`, relative to where the user is. */
export function reportPathHint(runDir: string, cwd = process.cwd()): string {
  const p = join(resolve(cwd, runDir), REPORT_FILE);
  const rel = relative(cwd, p);
  return `report: ${rel && !rel.startsWith('..') ? rel : p}`;
}

/**
 * For the end of `round`/`resume`, after `run-finished` is recorded and before the lock is released:
 * writes report.html and returns the summary line. Never throws: a report that cannot be written is a
 * line saying why, not a failed run.
 */
export function reportAtEnd(runDir: string, cwd = process.cwd()): string {
  try {
    const r = writeReport(runDir, undefined, { finishing: true });
    return r.ok ? reportPathHint(runDir, cwd) : `report: not written (${r.error.shortMessage})`;
  } catch (e) {
    return `report: not written (${e instanceof Error ? e.message : String(e)})`;
  }
}
