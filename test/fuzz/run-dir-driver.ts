/**
 * Runs flux-train commands in this one process against many prepared run dirs (starting a Node
 * process per case would make the fuzz tier take minutes), and records for each: the exit code,
 * what it printed, and how long it took. A case that never settles is reported as a hang; a
 * synchronous hang is caught by the parent's timeout, which reads the progress file to name it.
 *
 *   node run-dir-driver.js <cases.json> <results.json>
 *   cases: { dir: string; args: string[] }[]
 */
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { main } from '../../src/cli.js';

interface Case {
  id: number;
  args: string[];
}
export interface CaseResult {
  id: number;
  args: string[];
  exitCode: number;
  output: string;
  ms: number;
  hang: boolean;
}

const [casesFile, resultsFile] = process.argv.slice(2) as [string, string];
const cases = JSON.parse(readFileSync(casesFile, 'utf8')) as Case[];
const HANG_MS = Number(process.env['FUZZ_HANG_MS'] ?? 15_000);
const results: CaseResult[] = [];
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);

for (const c of cases) {
  appendFileSync(`${resultsFile}.progress`, `${c.id} ${JSON.stringify(c.args)}\n`);
  let output = '';
  const capture = ((chunk: string | Uint8Array) => {
    output += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  process.exitCode = undefined;
  const t0 = Date.now();
  let hang = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      main(['node', 'flux-train', ...c.args]),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          hang = true;
          resolve();
        }, HANG_MS);
      }),
    ]);
  } catch (e) {
    // main() reports errors itself; anything escaping it is a crash
    output += `ESCAPED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    process.exitCode = 70;
  } finally {
    clearTimeout(timer);
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  results.push({ id: c.id, args: c.args, exitCode: typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0), output: output.slice(0, 4000), ms: Date.now() - t0, hang });
  if (hang) break;
}
process.exitCode = 0;
writeFileSync(resultsFile, JSON.stringify(results));
process.exit(0);
