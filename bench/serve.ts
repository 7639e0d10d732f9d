// Servers: what flux-train adds around an inference server and its consumers. The same work twice in
// this run, on the local backend with the stand-in `llamafactory-cli api` (a fixed load time): once by
// `flux-train round` (a serve stage and three consumers), once by hand in bash (start the server, poll
// GET /v1/models, run the consumers, stop it). Plus the two hand-offs from the event log: server ready
// -> consumer started, and last consumer finished -> server stopped.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RunEvent } from '../src/run/events.js';
import { projectRoot } from '../src/util/project-root.js';
import type { BenchRow } from './parallel.js';

const LOAD_MS = 2000;
const CONSUMER_S = 1;

const PIPELINE = `
name: bench-serve
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
backend: local
gpus: none
models: {tiny: ./model}
datasets: {}
stages:
  - {id: srv, kind: serve, engine: llamafactory, template: qwen3, model: {base: tiny}}
  - {id: a, kind: command, endpoints: {llm: srv}, command: [sh, -c, "sleep ${CONSUMER_S}"]}
  - {id: b, kind: command, after: [a], endpoints: {llm: srv}, command: [sh, -c, "sleep ${CONSUMER_S}"]}
  - {id: c, kind: command, after: [b], endpoints: {llm: srv}, command: [sh, -c, "sleep ${CONSUMER_S}"]}
`;

/** What a person would script: the server in the background, a poll until it lists the model, the consumers, a stop. */
const BY_HAND = `set -e
cd "$1"
printf 'model_name_or_path: %s\\ntemplate: qwen3\\n' "$1/model" > infer.yaml
API_HOST=127.0.0.1 API_PORT=$2 API_MODEL_NAME=srv env/bin/llamafactory-cli api infer.yaml > server.log 2>&1 &
pid=$!
until python3 -c "import json,sys,urllib.request; d=json.load(urllib.request.urlopen('http://127.0.0.1:$2/v1/models')); sys.exit(0 if any(m['id']=='srv' for m in d['data']) else 1)" 2>/dev/null; do sleep 0.5; done
for i in 1 2 3; do sleep ${CONSUMER_S}; done
kill -TERM $pid; wait $pid || true
`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export async function serve(quick: boolean, rows: BenchRow[], results: Record<string, unknown>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flux-bench-serve-'));
  try {
    mkdirSync(join(dir, 'env', 'bin'), { recursive: true });
    symlinkSync(join(projectRoot, 'docker', 'standin', 'llamafactory-cli'), join(dir, 'env', 'bin', 'llamafactory-cli'));
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'model', 'config.json'), '{}');
    writeFileSync(join(dir, 'model', 'model.safetensors'), '');
    writeFileSync(join(dir, 'p.yaml'), PIPELINE);
    writeFileSync(join(dir, 'by-hand.sh'), BY_HAND);
    const reps = quick ? 1 : 3;
    const flux: number[] = [];
    const hand: number[] = [];
    const readyToStart: number[] = [];
    const doneToStop: number[] = [];
    for (let i = 0; i < reps; i++) {
      const runDir = join(dir, `run${i}`);
      mkdirSync(join(runDir, 'standin-control'), { recursive: true });
      writeFileSync(join(runDir, 'standin-control', 'serve-srv'), `load_ms=${LOAD_MS}\n`);
      let t0 = performance.now();
      const r = await execa(process.execPath, [join(projectRoot, 'bin', 'flux-train.js'), 'round', '--n', '1', '--pipeline', 'p.yaml', '--run-dir', runDir, '--local-env', join(dir, 'env'), '--json'], { cwd: dir, reject: false });
      flux.push(performance.now() - t0);
      if (r.exitCode !== 0) throw new Error(`bench serve: flux-train exited ${r.exitCode}: ${r.stderr}`);
      const ev = readFileSync(join(runDir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunEvent);
      const at = (p: (e: RunEvent) => boolean) => Date.parse(ev.find(p)?.ts ?? '');
      readyToStart.push(at((e) => e.type === 'stage-started' && e.key === 'r1/a') - at((e) => e.type === 'serve-ready'));
      doneToStop.push(at((e) => e.type === 'serve-stopped') - at((e) => e.type === 'stage-finished' && e.key === 'r1/c'));
      // the stand-in reads its control file from the working directory: the same load time by hand
      mkdirSync(join(dir, 'standin-control'), { recursive: true });
      writeFileSync(join(dir, 'standin-control', 'serve-srv'), `load_ms=${LOAD_MS}\n`);
      t0 = performance.now();
      await execa('bash', [join(dir, 'by-hand.sh'), dir, String(31000 + i)]);
      hand.push(performance.now() - t0);
    }
    const ratio = median(flux) / median(hand);
    results['serve'] = { flux_ms: flux, by_hand_ms: hand, ready_to_consumer_ms: readyToStart, consumers_done_to_stopped_ms: doneToStop };
    rows.push({ name: 'serve: flux-train round (server + 3 consumers) / the same by hand in bash', value: `${ratio.toFixed(2)} (${(median(flux) / 1000).toFixed(1)} s / ${(median(hand) / 1000).toFixed(1)} s)`, target: '<= 1.25', ok: ratio <= 1.25 });
    rows.push({ name: 'serve: server ready -> first consumer started (median)', value: `${median(readyToStart).toFixed(0)} ms`, target: '< 300 ms', ok: median(readyToStart) < 300 });
    rows.push({ name: 'serve: last consumer finished -> server stopped (median)', value: `${median(doneToStop).toFixed(0)} ms`, target: '< 2000 ms', ok: median(doneToStop) < 2000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
