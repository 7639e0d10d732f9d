// Replays one fuzz counterexample: prints the mutated pipeline, then what validate and the dry run say.
//   usage: node dist/test/fuzz/replay.js '<Counterexample JSON printed by the fuzz test>'
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/util/project-root.js';
import { mutate, type Mutation } from './mutate.js';

const SHIPPED = ['reasonflux-v2.yaml', 'tiny-cpu.yaml', 'demo-standin.yaml'];
const raw = JSON.parse(process.argv[2] ?? '[]') as unknown;
const m = (Array.isArray(raw) ? raw[0] : raw) as Mutation;
const text = mutate(readFileSync(join(projectRoot, 'pipelines', SHIPPED[m.pipeline] as string), 'utf8'), m);
const file = join(projectRoot, 'pipelines', `.replay-${process.pid}.yaml`);
writeFileSync(file, text);
process.stdout.write(`${text}\n--- ${file}\n`);
const bin = join(projectRoot, 'bin', 'flux-train.js');
const runDir = mkdtempSync(join(tmpdir(), 'flux-replay-'));
for (const args of [['validate', '--pipeline', file], ['round', '--n', '3', '--dry-run', '--json', '--backend', 'local', '--pipeline', file, '--run-dir', runDir]]) {
  try {
    execFileSync(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 30_000 });
    process.stdout.write(`${args[0]}: exit 0\n`);
  } catch (e) {
    process.stdout.write(`${args[0]}: exit ${(e as { status?: number }).status}\n`);
  }
}
rmSync(file, { force: true });
rmSync(runDir, { recursive: true, force: true });
