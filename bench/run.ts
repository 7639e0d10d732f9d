/**
* npm run bench [-- --quick] [-- --only PART]: what flux-train costs on top of the training it runs. Every figure is a
 * ratio or a median measured in this one run against a baseline run alongside it (these machines are
 * shared and noisy). Prints a table and writes bench/results.json.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadPipeline } from '../src/pipeline/load.js';
import { containerView } from '../src/backends/trainer-view.js';
import { buildPlan } from '../src/planner/plan.js';
import { renderConfigYaml } from '../src/llamafactory/config-yaml.js';
import { projectRoot } from '../src/util/project-root.js';
import { writeReport } from '../src/report/write.js';
import { syntheticRun } from '../test/helpers/synthetic-run.js';
import { parallel } from './parallel.js';
import { serve } from './serve.js';

const QUICK = process.argv.includes('--quick');
/** --only NAME: run one part (e.g. `npm run bench -- --only report`) */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const BIN = join(projectRoot, 'bin', 'flux-train.js');
const IMAGE = process.env['TEST_IMAGE'] ?? 'flux-train/standin:test';

interface Row {
  name: string;
  value: string;
  target: string;
  ok: boolean | null;
}
const rows: Row[] = [];
const results: Record<string, unknown> = {};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const now = () => performance.now();

function demoProject(records: number, edit: (y: string) => string = (y) => y): string {
  const dir = mkdtempSync(join(tmpdir(), 'flux-bench-'));
  const yaml = readFileSync(join(projectRoot, 'pipelines', 'demo-standin.yaml'), 'utf8').replace('flux-train/standin:test', IMAGE);
  mkdirSync(join(dir, 'pipelines'), { recursive: true });
  writeFileSync(join(dir, 'pipelines', 'demo.yaml'), edit(yaml));
  return dir;
}

async function makeData(dir: string, records: number): Promise<void> {
  await execa(process.execPath, [join(projectRoot, 'scripts', 'make-demo-data.mjs'), join(dir, '.demo'), '--records', String(records)]);
}

function ledger(runDir: string): string[] {
  const p = join(runDir, 'standin-control', 'ledger');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
}

/** Gaps between one training's finish and the next one's launch, from the trainer's own ledger (seconds). */
function handoffGaps(lines: string[]): number[] {
  const gaps: number[] = [];
  let lastFinish: number | undefined;
  for (const l of lines) {
    const [kind, , t] = l.split(' ');
    if (kind === 'finish') lastFinish = Number(t);
    if (kind === 'launch' && lastFinish !== undefined) {
      gaps.push(Number(t) - lastFinish);
      lastFinish = undefined;
    }
  }
  return gaps;
}

// 1. orchestration overhead ------------------------------------------------------------------------
async function overhead(): Promise<void> {
  // a fixed amount of work per stage: ~1.2 s (--quick) or ~4 s; what is measured is what flux-train adds
  const records = 96;
  const stepMs = QUICK ? 50 : 160;
  // train stages only, so that flux-train and the bash loop run exactly the same containers
  const dir = demoProject(records, (y) => y.replace(/  - id: sample_pairs[\s\S]*$/, '').replace(/default: \{stage: sample_pairs, file: (\w+)\.jsonl\}/g, "default: ../.demo/data/$1.jsonl"));
  await makeData(dir, records);
  const runDir = join(dir, 'run');
  mkdirSync(join(runDir, 'standin-control'), { recursive: true });
  const keys = ['r1-proposer_sft', 'r1-proposer_dpo', 'r1-reasoner_dpo', 'r2-proposer_dpo', 'r2-reasoner_dpo'];
  for (const k of keys) writeFileSync(join(runDir, 'standin-control', k), `step_ms=${stepMs}\n`);
  const t0 = now();
  const r = await execa(process.execPath, [BIN, 'round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--quiet', '--poll-ms', '250'], { cwd: dir, reject: false, env: { FLUX_TRAIN_RENDERER: 'plain' } });
  const fluxMs = now() - t0;
  if (r.exitCode !== 0) throw new Error(`flux-train round failed: ${r.all ?? r.stderr}`);
  const fluxGaps = handoffGaps(ledger(runDir));

  // the baseline: the same configs, the same containers, a bare bash loop of docker run
  const plan = JSON.parse((await execa(process.execPath, [BIN, 'round', '--n', '2', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--dry-run', '--json'], { cwd: dir })).stdout) as {
    mounts: { host: string; container: string; mode: string }[];
    stages: { key: string; config: string }[];
  };
  const base = join(dir, 'baseline');
  mkdirSync(join(base, 'standin-control'), { recursive: true });
  cpSync(join(runDir, 'configs'), join(base, 'configs'), { recursive: true });
  cpSync(join(runDir, 'dataset_info.json'), join(base, 'dataset_info.json'));
  for (const k of keys) writeFileSync(join(base, 'standin-control', k), `step_ms=${stepMs}\n`);
  const vols = plan.mounts.map((m) => `-v ${m.host === runDir ? base : m.host}:${m.container}:${m.mode}`).join(' ');
  const script = plan.stages.map((s) => `docker run --rm --network none ${vols} -w /flux/run ${IMAGE} llamafactory-cli train /flux/run/configs/${s.key.replace('/', '-')}.yaml >/dev/null 2>&1 || exit 1`).join('\n');
  const t1 = now();
  await execa('bash', ['-c', `set -e\n${script}`]);
  const bashMs = now() - t1;
  const baseGaps = handoffGaps(ledger(base));
  const ratio = fluxMs / bashMs;
  const gap = median(fluxGaps) * 1000;
  const baseGap = median(baseGaps) * 1000;
  results['overhead'] = { flux_ms: fluxMs, bash_ms: bashMs, ratio, handoff_gap_ms_median: gap, handoff_gap_ms_max: Math.max(...fluxGaps) * 1000, bash_gap_ms_median: baseGap, stages: keys.length };
  rows.push({ name: 'wall time, flux-train round / bash loop of docker run', value: `${ratio.toFixed(3)} (${(fluxMs / 1000).toFixed(1)} s / ${(bashMs / 1000).toFixed(1)} s)`, target: '<= 1.05', ok: ratio <= 1.05 });
  rows.push({ name: 'container exit -> next container start (median)', value: `${gap.toFixed(0)} ms (bash loop: ${baseGap.toFixed(0)} ms)`, target: '< 300 ms', ok: gap < 300 });
  rmSync(dir, { recursive: true, force: true });
}

// 2. start-up ---------------------------------------------------------------------------------------
async function startup(): Promise<void> {
  const n = QUICK ? 5 : 15;
  const time = async (args: string[], cwd = projectRoot): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      await execa(process.execPath, args, { cwd, reject: false });
      xs.push(now() - t);
    }
    return median(xs);
  };
  const node = await time(['-e', '0']);
  const help = await time([BIN, '--help']);
  const validate = await time([BIN, 'validate', '--no-data-check']);
  const dry = await time([BIN, 'round', '--n', '3', '--dry-run']);
  // status on a run dir with 100 stage instances and 10,000 events
  const dir = mkdtempSync(join(tmpdir(), 'flux-bench-status-'));
  const stages: Record<string, unknown> = {};
  for (let i = 0; i < 100; i++) {
    const key = `r${Math.floor(i / 3) + 1}/stage_${i % 3}`;
    stages[key] = { key, status: 'done', attempts: [{ n: 1, startedAt: '2026-01-01T00:00:00Z', endedAt: '2026-01-01T01:00:00Z', lastStep: 500 }], progress: { step: 500, total: 500, loss: 0.5, updatedAt: '2026-01-01T01:00:00Z' }, done: { fingerprint: 'f', fields: {}, manifest: [], finishedAt: '2026-01-01T01:00:00Z', durationMs: 3_600_000, finalLoss: 0.5 } };
  }
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ schema: 1, runId: 'x', pipelineName: 'bench', rounds: 34, backend: 'docker', sessions: [{ startedAt: '2026-01-01T00:00:00Z', endedAt: '2026-01-05T00:00:00Z', pid: 1, host: 'h' }], stages }));
  writeFileSync(join(dir, 'events.jsonl'), Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ type: 'stage-checkpoint', ts: '2026-01-01T00:00:00Z', key: 'r1/stage_0', step: i })).join('\n') + '\n');
  const status = await time([BIN, 'status', '--run-dir', dir]);
  rmSync(dir, { recursive: true, force: true });
  results['startup'] = { node_ms: node, help_ms: help, validate_ms: validate, dry_run_ms: dry, status_100_stages_10k_events_ms: status, repeats: n };
  rows.push({ name: 'flux-train --help above `node -e 0`', value: `+${(help - node).toFixed(0)} ms (${help.toFixed(0)} vs ${node.toFixed(0)} ms)`, target: '< 250 ms', ok: help - node < 250 });
  rows.push({ name: 'flux-train validate (shipped pipeline)', value: `${validate.toFixed(0)} ms (+${(validate - node).toFixed(0)} ms)`, target: 'informational', ok: null });
  rows.push({ name: 'flux-train round --n 3 --dry-run', value: `${dry.toFixed(0)} ms (+${(dry - node).toFixed(0)} ms)`, target: 'informational', ok: null });
  rows.push({ name: 'status: 100 stage instances, 10,000 events', value: `${status.toFixed(0)} ms`, target: '< 500 ms', ok: status < 500 });
}

// 3. logs -------------------------------------------------------------------------------------------
async function logs(): Promise<void> {
  const mb = QUICK ? 20 : 200;
  const dir = demoProject(8);
  await makeData(dir, 8);
  const runDir = join(dir, 'run');
  mkdirSync(join(runDir, 'standin-control'), { recursive: true });
  writeFileSync(join(runDir, 'standin-control', 'r1-proposer_sft'), `spew_mb=${mb} step_ms=1\n`);
  const child = execa(process.execPath, [BIN, 'round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--only', 'proposer_sft', '--poll-ms', '250'], { cwd: dir, reject: false, env: { FLUX_TRAIN_RENDERER: 'plain' }, stdout: 'ignore' });
  const samples: { t: number; rss: number; logBytes: number }[] = [];
  const logPath = join(runDir, 'logs', 'r1-proposer_sft.attempt1.log');
  const t0 = now();
  const timer = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      const size = existsSync(logPath) ? statSync(logPath).size : 0;
      if (rss > 0) samples.push({ t: now() - t0, rss, logBytes: size });
    } catch {
      // the process is gone
    }
  }, 200);
  const r = await child;
  clearInterval(timer);
  const fluxMs = now() - t0;
  if (r.exitCode !== 0) throw new Error(`log bench run failed: ${r.stderr}`);
  const peak = Math.max(...samples.map((s) => s.rss));
  const during = samples.filter((s) => s.logBytes > 0);
  const q = (f: number) => during[Math.min(during.length - 1, Math.floor(during.length * f))]?.rss ?? 0;
  // baseline: the same container, followed by docker logs -f into a file
  const plan = JSON.parse((await execa(process.execPath, [BIN, 'round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run2', '--dry-run', '--json'], { cwd: dir })).stdout) as {
    mounts: { host: string; container: string; mode: string }[];
    stages: { key: string }[];
  };
  const base = join(dir, 'run2');
  mkdirSync(join(base, 'standin-control'), { recursive: true });
  cpSync(join(runDir, 'configs'), join(base, 'configs'), { recursive: true });
  cpSync(join(runDir, 'dataset_info.json'), join(base, 'dataset_info.json'));
  writeFileSync(join(base, 'standin-control', 'r1-proposer_sft'), `spew_mb=${mb} step_ms=1\n`);
  const vols = plan.mounts.map((m) => ['-v', `${m.host}:${m.container}:${m.mode}`]).flat();
  const t1 = now();
  const id = (await execa('docker', ['run', '-d', '--network', 'none', ...vols, '-w', '/flux/run', IMAGE, 'llamafactory-cli', 'train', '/flux/run/configs/r1-proposer_sft.yaml'])).stdout.trim();
  await execa('bash', ['-c', `docker logs -f ${id} > ${join(base, 'docker-logs.txt')} 2>&1`]);
  const baseMs = now() - t1;
  await execa('docker', ['rm', '-f', id], { reject: false });
  const ratio = fluxMs / baseMs;
  results['logs'] = { log_mb: mb, flux_ms: fluxMs, docker_logs_ms: baseMs, ratio, peak_rss_bytes: peak, rss_at_25pct: q(0.25), rss_at_50pct: q(0.5), rss_at_100pct: q(0.99), samples: samples.length };
  rows.push({ name: `peak RSS while following ${mb} MB of log`, value: `${(peak / 1048576).toFixed(0)} MiB (25%: ${(q(0.25) / 1048576).toFixed(0)}, 50%: ${(q(0.5) / 1048576).toFixed(0)}, end: ${(q(0.99) / 1048576).toFixed(0)} MiB)`, target: '< 150 MB, flat', ok: peak < 150 * 1048576 });
  rows.push({ name: 'time, flux-train stage / docker logs -f > file', value: `${ratio.toFixed(2)} (${(fluxMs / 1000).toFixed(1)} s / ${(baseMs / 1000).toFixed(1)} s)`, target: '<= 1.2', ok: ratio <= 1.2 });
  rmSync(dir, { recursive: true, force: true });
}

// 4. resume cost ------------------------------------------------------------------------------------
async function resumeCost(): Promise<void> {
  const S = QUICK ? 80 : 200;
  const K = QUICK ? 2 : 5;
  const saveSteps = 10;
  const records = S * 4; // bs 2 x ga 2, one epoch
  const dir = demoProject(records, (y) => y.replace('save_steps: 4', `save_steps: ${saveSteps}`).replace('save_total_limit: 2', 'save_total_limit: 3').replace('max_attempts: 3', `max_attempts: ${K + 2}`).replace('backoff_seconds: 1', 'backoff_seconds: 0'));
  await makeData(dir, records);
  const runDir = join(dir, 'run');
  mkdirSync(join(runDir, 'standin-control'), { recursive: true });
  writeFileSync(join(runDir, 'standin-control', 'r1-proposer_sft'), 'step_ms=40 ledger_steps=1\n');
  const child = execa(process.execPath, [BIN, 'round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--only', 'proposer_sft', '--quiet'], { cwd: dir, reject: false, env: { FLUX_TRAIN_RENDERER: 'plain' } });
  const killedAt: number[] = [];
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let k = 0; k < K; k++) {
    // kill at a random step between 10% and 90% of what is left
    const steps = () => ledger(runDir).filter((l) => l.startsWith('step ')).length;
    const target = steps() + Math.floor((S / (K + 1)) * (0.3 + rand()));
    const end = Date.now() + 120_000;
    while (steps() < target && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const ps = await execa('docker', ['ps', '-q', '--filter', `label=flux-train.run-dir=${runDir}`, '--filter', 'status=running']);
    const id = ps.stdout.trim().split('\n')[0];
    if (!id) break;
    const lastStep = Number(ledger(runDir).filter((l) => l.startsWith('step ')).at(-1)?.split(' ')[2] ?? 0);
    await execa('docker', ['kill', id], { reject: false });
    killedAt.push(lastStep);
    // wait for the retry to start training again
    const n = steps();
    while (steps() <= n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }
  const r = await child;
  if (r.exitCode !== 0) throw new Error(`resume bench failed: ${r.stdout}`);
  const executed = ledger(runDir).filter((l) => l.startsWith('step ')).length;
  const redone = executed - S;
  const scratch = killedAt.reduce((a, b) => a + b, 0);
  results['resume'] = { steps: S, kills: killedAt.length, save_steps: saveSteps, killed_at: killedAt, steps_executed: executed, redone, redone_over_S: redone / S, bound_over_S: (killedAt.length * saveSteps) / S, scratch_redone_over_S: scratch / S };
  rows.push({ name: `resume: steps redone / S (S=${S}, K=${killedAt.length} kills)`, value: `${(redone / S).toFixed(3)} (${redone} steps)`, target: `<= K x save_steps / S = ${((killedAt.length * saveSteps) / S).toFixed(3)}`, ok: redone <= killedAt.length * saveSteps });
  rows.push({ name: 'resume: restarting from scratch instead (the seed commands)', value: `${(scratch / S).toFixed(3)} (${scratch} steps)`, target: 'comparison', ok: null });
  rmSync(dir, { recursive: true, force: true });
}

// 5. scaling ----------------------------------------------------------------------------------------
async function scaling(): Promise<void> {
  const sizes = QUICK ? [1, 10, 30] : [1, 10, 100];
  const p = loadPipeline(join(projectRoot, 'pipelines', 'reasonflux-v2.yaml'));
  if (!p.ok) throw new Error('pipeline does not load');
  const out: { rounds: number; ms: number; bytes: number; configs: number }[] = [];
  for (const n of sizes) {
    const xs: number[] = [];
    let bytes = 0;
    let configs = 0;
    for (let rep = 0; rep < (QUICK ? 3 : 7); rep++) {
      global.gc?.();
      const h0 = process.memoryUsage().heapUsed;
      const t = now();
      const r = buildPlan(p.value, { rounds: n, runDir: '/tmp/flux-bench-scale', backend: 'docker', view: containerView(), dataProblems: 'warning' });
      if (!r.ok) throw new Error('plan failed');
      const texts = r.value.plan.stages.flatMap((s) => (s.kind === 'train' ? [renderConfigYaml(s.args, p.value.keySet)] : []));
      configs = texts.length;
      xs.push(now() - t);
      bytes = Math.max(bytes, process.memoryUsage().heapUsed - h0);
    }
    out.push({ rounds: n, ms: median(xs), bytes, configs });
  }
  const fit = (ys: number[]) => {
    const lx = out.map((o) => Math.log(o.rounds));
    const ly = ys.map((y) => Math.log(Math.max(y, 1e-6)));
    const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
    const my = ly.reduce((a, b) => a + b, 0) / ly.length;
    return lx.reduce((a, x, i) => a + (x - mx) * ((ly[i] as number) - my), 0) / lx.reduce((a, x) => a + (x - mx) ** 2, 0);
  };
  // the smallest size is dominated by fixed costs; fit the exponent on the larger two and all three
  const expAll = fit(out.map((o) => o.ms));
  const tail = out.slice(1);
  const expTail = Math.log((tail[1]?.ms ?? 1) / (tail[0]?.ms ?? 1)) / Math.log((tail[1]?.rounds ?? 1) / (tail[0]?.rounds ?? 1));
  const memTail = Math.log(Math.max(1, tail[1]?.bytes ?? 1) / Math.max(1, tail[0]?.bytes ?? 1)) / Math.log((tail[1]?.rounds ?? 1) / (tail[0]?.rounds ?? 1));
  results['scaling'] = { points: out, time_exponent_all: expAll, time_exponent_large: expTail, memory_exponent_large: memTail };
  rows.push({ name: `plan + configs for ${sizes.join('/')} rounds`, value: out.map((o) => `${o.ms.toFixed(1)} ms`).join(' / '), target: 'linear', ok: null });
  rows.push({ name: 'fitted time exponent (larger sizes)', value: `${expTail.toFixed(2)} (all sizes ${expAll.toFixed(2)})`, target: '~1.0', ok: expTail < 1.3 });
  rows.push({ name: 'fitted memory exponent (larger sizes)', value: memTail.toFixed(2), target: '~1.0', ok: memTail < 1.3 });
}

/** flux-train report on a 3-round run with 10,000 logged steps per stage and two retried attempts. */
async function report(): Promise<void> {
  const steps = 10_000;
  const dir = syntheticRun({
    rounds: 3,
    steps,
    faults: [
      { key: 'r2/proposer_dpo', at: 6100, checkpoint: 6000, cause: 'nccl' },
      { key: 'r1/reasoner_dpo', at: 40, cause: 'killed' },
    ],
  });
  const n = QUICK ? 3 : 7;
  const inProcess: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const r = writeReport(dir);
    if (!r.ok) throw r.error;
    inProcess.push(r.value.ms);
    bytes = r.value.bytes;
  }
  const cli: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    const r = await execa(process.execPath, [BIN, 'report', '--run-dir', dir], { reject: false });
    if (r.exitCode !== 0) throw new Error(`flux-train report failed: ${r.stderr}`);
    cli.push(now() - t);
  }
  const logMb = ['r1', 'r2', 'r3'].flatMap((r) => ['proposer_sft', 'proposer_dpo', 'reasoner_dpo'].map((id) => statSync(join(dir, 'outputs', r, id, 'trainer_log.jsonl')).size)).reduce((a, b) => a + b, 0) / 1048576;
  rmSync(dir, { recursive: true, force: true });
  const ms = median(cli);
  results['report'] = { steps_per_stage: steps, stage_instances: 9, trainer_logs_mb: logMb, html_bytes: bytes, cli_ms: ms, in_process_ms: median(inProcess), repeats: n };
  rows.push({ name: `report: 3 rounds x 3 stages x ${steps.toLocaleString('en')} steps (${logMb.toFixed(1)} MB of trainer logs), page size`, value: `${(bytes / 1048576).toFixed(2)} MB`, target: '< 2 MB', ok: bytes < 2 * 1048576 });
  rows.push({ name: 'report: flux-train report, wall time (median, build + write)', value: `${ms.toFixed(0)} ms (in process: ${median(inProcess).toFixed(0)} ms)`, target: '< 2000 ms', ok: ms < 2000 });
}

async function main(): Promise<void> {
  const image = await execa('docker', ['image', 'inspect', IMAGE], { reject: false });
  const docker = image.exitCode === 0;
  const parts: [string, () => Promise<void>, boolean][] = [
    ['start-up', startup, false],
    ['scaling', scaling, false],
    ['report', report, false],
    ['parallel', () => parallel(QUICK, rows, results), false],
    ['serve', () => serve(QUICK, rows, results), false],
    ['orchestration overhead', overhead, true],
    ['logs', logs, true],
    ['resume cost', resumeCost, true],
  ];
  for (const [name, fn, needsDocker] of parts) {
    if (ONLY !== undefined && name !== ONLY) continue;
    if (needsDocker && !docker) {
      rows.push({ name, value: `skipped: ${IMAGE} not found (bash .ci/infra.sh docker && bash scripts/build-test-image.sh)`, target: '', ok: null });
      continue;
    }
    process.stderr.write(`bench: ${name}...\n`);
    await fn();
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  const v = Math.max(...rows.map((r) => r.value.length));
  process.stdout.write(`\nflux-train benchmark${QUICK ? ' (--quick)' : ''}: ${cpus().length} CPUs, Node ${process.version}\n`);
  for (const r of rows) process.stdout.write(`${r.ok === null ? ' ' : r.ok ? '✓' : '✗'} ${r.name.padEnd(w)}  ${r.value.padEnd(v)}  ${r.target}\n`);
  const file = join(projectRoot, 'bench', 'results.json');
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, cpus: cpus().length, cpu_model: cpus()[0]?.model, node: process.version, results, table: rows }, null, 2)}\n`);
  process.stdout.write(`\nwrote ${file}\n`);
}

await main();
process.exit(0);
