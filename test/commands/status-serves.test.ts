import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { serveLines, serveRows } from '../../src/commands/serve-rows.js';
import type { RunState, ServeState } from '../../src/state/state.js';
import { BIN, Rig } from '../helpers/rig.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function server(key: string, o: Partial<ServeState>): ServeState {
  return { key, status: 'ready', attempt: 1, servedName: key.split('/')[1] as string, fingerprint: 'f', port: 40000, url: 'http://127.0.0.1:40000/v1', startedAt: t(0), starts: 1, ...o };
}

/** A finished 2-round loop: round 1's proposer server stopped normally, its reasoner server failed once and then came up; round 2's proposer never got ready. */
function loopState(): RunState {
  return {
    schema: 1,
    pipelineName: 'loop',
    rounds: 2,
    backend: 'local',
    sessions: [{ startedAt: t(0), pid: 1, host: 'h', endedAt: t(500), ok: false }],
    stages: {
      'r1/mine': { key: 'r1/mine', status: 'done', attempts: [{ n: 1, startedAt: t(20), endedAt: t(100) }] },
      'r2/mine': { key: 'r2/mine', status: 'failed', attempts: [{ n: 1, startedAt: t(300), endedAt: t(400) }] },
    },
    serves: {
      'r2/proposer_server': server('r2/proposer_server', { status: 'failed', url: 'http://127.0.0.1:40003/v1', port: 40003, startedAt: t(300), stoppedAt: t(400), failure: 'not ready within 100s: GET /v1/models never listed "proposer"\nlog tail: OSError: no model', starts: 1 }),
      'r1/reasoner_server': server('r1/reasoner_server', { status: 'stopped', attempt: 2, url: 'http://127.0.0.1:40002/v1', port: 40002, servedName: 'reasoner', readyAfterMs: 65_000, starts: 2, stoppedAt: t(100), stopReason: 'its consumers are done' }),
      'r1/proposer_server': server('r1/proposer_server', { status: 'stopped', url: 'http://127.0.0.1:40001/v1', port: 40001, servedName: 'proposer', readyAfterMs: 12_400, stoppedAt: t(100), stopReason: 'its consumers are done' }),
    },
  };
}

describe('status: the run’s servers', () => {
  const rig = new Rig('status-serves');
  after(() => rig.cleanup());

  it('lists the servers round by round, in the order they started, with their log', () => {
    const rows = serveRows(loopState(), '/r');
    assert.deepEqual(
      rows.map((r) => r.key),
      ['r1/reasoner_server', 'r1/proposer_server', 'r2/proposer_server'],
    );
    assert.equal(rows[0]?.log, '/r/logs/r1-reasoner_server.attempt2.log');
    assert.equal(rows[0]?.starts, 2);
    assert.equal(rows[0]?.readyAfterMs, 65_000);
    assert.equal(rows[2]?.readyAfterMs, undefined);
    assert.equal(serveLines([], { running: false, wide: false }), '');
  });

  it('shows status, URL, served name, ready time, starts and why it stopped or failed; --json carries the same', async () => {
    const dir = rig.path('loop-run');
    rig.write('loop-run/state.json', JSON.stringify(loopState()));
    const text = await execa(process.execPath, [BIN, 'status', '--run-dir', dir], { reject: false });
    assert.equal(text.exitCode, 0, text.stderr);
    const lines = text.stdout.split('\n');
    const at = lines.indexOf('servers:');
    assert.ok(at > 0, text.stdout);
    assert.match(lines[at + 1] ?? '', /^ {2}server\s+status\s+url\s+model\s+ready in\s+starts\s+note$/);
    assert.match(lines[at + 2] ?? '', /^ {2}r1\/reasoner_server\s+stopped\s+http:\/\/127\.0\.0\.1:40002\/v1\s+reasoner\s+1m05s\s+2\s+its consumers are done$/);
    assert.match(lines[at + 3] ?? '', /^ {2}r1\/proposer_server\s+stopped\s+http:\/\/127\.0\.0\.1:40001\/v1\s+proposer\s+12s\s+1\s+its consumers are done$/);
    // a failure keeps its first line in the table; the rest is in the server's log and in status --json
    assert.match(lines[at + 4] ?? '', /^ {2}r2\/proposer_server\s+failed\s+http:\/\/127\.0\.0\.1:40003\/v1\s+proposer_server\s+-\s+1\s+not ready within 100s: GET \/v1\/models never listed "proposer"$/);
    assert.doesNotMatch(text.stdout, /log tail: OSError/);
    // the stage table keeps its place above, the ratio its place at the end
    assert.ok(lines.findIndex((l) => l.startsWith('r1/mine')) < at);
    assert.match(lines.at(-1) ?? '', /^effective training time ratio/);

    const wide = await execa(process.execPath, [BIN, 'status', '--run-dir', dir, '--wide'], { reject: false });
    assert.match(wide.stdout, /r1\/reasoner_server .*\/logs\/r1-reasoner_server\.attempt2\.log/);

    const json = await execa(process.execPath, [BIN, 'status', '--run-dir', dir, '--json'], { reject: false });
    assert.equal(json.exitCode, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { serves: Record<string, unknown>[]; stages: unknown[] };
    assert.equal(out.stages.length, 2);
    assert.deepEqual(out.serves[0], {
      key: 'r1/reasoner_server',
      status: 'stopped',
      url: 'http://127.0.0.1:40002/v1',
      servedName: 'reasoner',
      readyAfterMs: 65_000,
      starts: 2,
      attempt: 2,
      startedAt: t(0),
      stoppedAt: t(100),
      stopReason: 'its consumers are done',
      log: `${dir}/logs/r1-reasoner_server.attempt2.log`,
    });
    assert.equal(out.serves[2]?.['failure'], 'not ready within 100s: GET /v1/models never listed "proposer"\nlog tail: OSError: no model');
  });

  it('says a server recorded as up while no flux-train runs is what the next round re-uses or stops', async () => {
    const s = loopState();
    s.serves = { 'r1/proposer_server': server('r1/proposer_server', { status: 'ready', readyAfterMs: 3000 }) };
    const dir = rig.path('left-run');
    rig.write('left-run/state.json', JSON.stringify(s));
    // the CLI that started it is gone: its lock names a dead pid
    rig.write('left-run/lock.json', JSON.stringify({ pid: 99_999_999, host: hostname(), startedAt: t(0), heartbeat: t(0), command: 'flux-train round --n 1' }));
    const r = await execa(process.execPath, [BIN, 'status', '--run-dir', dir], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /r1\/proposer_server\s+ready\s+\S+\s+proposer_server\s+3s\s+1\s+no flux-train is running: the next round re-uses or stops it/);
  });

  it('an old run dir without serves shows no servers section, and --json an empty list', async () => {
    const s = loopState();
    delete s.serves;
    const dir = rig.path('old-run');
    rig.write('old-run/state.json', JSON.stringify(s));
    const r = await execa(process.execPath, [BIN, 'status', '--run-dir', dir], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /servers:/);
    const json = await execa(process.execPath, [BIN, 'status', '--run-dir', dir, '--json'], { reject: false });
    assert.deepEqual((JSON.parse(json.stdout) as { serves: unknown[] }).serves, []);
  });

  it('rebuilt from events.jsonl when state.json is lost, the servers are shown too', async () => {
    const dir = rig.path('lost-run');
    const url = 'http://127.0.0.1:40009/v1';
    const events = [
      { type: 'run-started', ts: t(0), runId: 'r', pipeline: 'p.yaml', pipelineName: 'p', rounds: 1, backend: 'local', image: 'i', pid: 1, host: 'h', argv: [] },
      { type: 'serve-starting', ts: t(1), key: 'r1/srv', attempt: 1, port: 40009, url, servedName: 'srv', fingerprint: 'f' },
      { type: 'serve-ready', ts: t(9), key: 'r1/srv', attempt: 1, url, afterMs: 8000 },
      { type: 'serve-stopped', ts: t(20), key: 'r1/srv', attempt: 1, reason: 'its consumers are done' },
      { type: 'run-finished', ts: t(21), ok: true, exitCode: 0, durationMs: 21_000, summary: '1 done' },
    ];
    rig.write('lost-run/events.jsonl', `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const r = await execa(process.execPath, [BIN, 'status', '--run-dir', dir], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /shown as rebuilt from 5 events/);
    assert.match(r.stdout, /r1\/srv\s+stopped\s+http:\/\/127\.0\.0\.1:40009\/v1\s+srv\s+8s\s+1\s+its consumers are done/);
  });
});

describe('round --dry-run: the plan’s servers', () => {
  const rig = new Rig('dryrun-serves');
  after(() => rig.cleanup());
  rig.write('pipelines/sft.jsonl', '{"instruction": "q", "output": "a"}\n');
  const yaml = `name: loop
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
backend: local
gpus: 4
models: {base: Qwen/Qwen3-0.6B}
datasets:
  sft: {path: sft.jsonl}
stages:
  - id: policy
    kind: train
    stage: sft
    model: {base: base}
    datasets: [sft]
  - id: policy_server
    kind: serve
    engine: sglang
    model: {stage: policy}
    served_name: policy
    gpus: 2
    args: [--mem-fraction-static, "0.8"]
    env: {SGLANG_LOG_LEVEL: debug}
  - id: base_server
    kind: serve
    engine: llamafactory
    template: qwen3
    gpus: none
    model: {base: base}
    rounds: [1]
  - id: sample
    kind: command
    endpoints: {policy: policy_server, ref: base_server}
    rounds: [1]
    command: [python3, sample.py]
  - id: judge
    kind: command
    endpoints: {policy: policy_server}
    command: [python3, judge.py]
`;
  const file = rig.write('pipelines/loop.yaml', yaml);
  const env = { FLUX_TRAIN_RENDERER: 'plain', HOME: rig.dir };

  it('lists each server with engine, model, served name, GPUs, consumers and its launch line (port chosen at start)', async () => {
    const r = await rig.cli(['round', '--n', '2', '--dry-run', '--pipeline', file, '--run-dir', 'run'], env);
    assert.equal(r.exitCode, 0, r.all);
    const out = r.stdout;
    assert.match(out, /servers \(each starts with its first consumer and stops after its last; port chosen at start\):\n/);
    const run = rig.path('run');
    assert.ok(out.includes(`r1/policy_server         server (sglang)        serves r1/policy (${run}/outputs/r1/policy) as "policy"\n    gpus: 2  for: r1/sample, r1/judge\n    launch: python -m sglang.launch_server --model-path ${run}/outputs/r1/policy --served-model-name policy --host 127.0.0.1 --port 0 --tp-size 2 --mem-fraction-static 0.8 --reasoning-parser qwen3  (port chosen at start)\n`), out);
    assert.ok(out.includes(`r1/base_server           server (llamafactory)  serves base: Qwen/Qwen3-0.6B as "base_server"\n    gpus: none  for: r1/sample\n    launch: API_HOST=127.0.0.1 API_PORT=0 API_MODEL_NAME=base_server llamafactory-cli api ${run}/configs/r1-base_server.serve.yaml  (port chosen at start)\n`), out);
    assert.match(out, /r2\/policy_server\s+server \(sglang\)\s+serves r2\/policy .*\n {4}gpus: 2 {2}for: r2\/judge\n/);
    assert.doesNotMatch(out, /r2\/base_server/);
    // a consumer shows which server each endpoint name reaches
    assert.match(out, /r1\/sample .*\n.*\n.*\n {4}endpoints: policy -> r1\/policy_server, ref -> r1\/base_server\n/);
    // servers are no stage instances: the count is unchanged
    assert.match(out, /\n5 stage instances: 5 run,/);
  });

  it('--json: a serves array beside the stages, whose fields are unchanged', async () => {
    const r = await rig.cli(['round', '--n', '2', '--dry-run', '--json', '--pipeline', file, '--run-dir', 'run'], env);
    assert.equal(r.exitCode, 0, r.all);
    const plan = JSON.parse(r.stdout) as { stages: { key: string; kind: string }[]; serves: Record<string, unknown>[] };
    assert.deepEqual(
      plan.stages.map((s) => s.key),
      ['r1/policy', 'r1/sample', 'r1/judge', 'r2/policy', 'r2/judge'],
    );
    assert.deepEqual(
      plan.serves.map((s) => s['key']),
      ['r1/policy_server', 'r1/base_server', 'r2/policy_server'],
    );
    const s = plan.serves[0] as Record<string, unknown>;
    assert.equal(s['engine'], 'sglang');
    assert.equal(s['served_name'], 'policy');
    assert.deepEqual(s['model_source'], { stage: 'r1/policy' });
    assert.equal(s['model'], `${rig.path('run')}/outputs/r1/policy`);
    assert.deepEqual(s['consumers'], ['r1/sample', 'r1/judge']);
    assert.deepEqual(s['depends_on'], ['r1/policy']);
    assert.equal(s['gpus'], 2);
    assert.equal(s['port'], 'chosen at start');
    assert.equal((s['command'] as string[])[(s['command'] as string[]).indexOf('--port') + 1], '0');
    assert.deepEqual(plan.serves[1]?.['model_source'], { base: 'base' });
    assert.equal(plan.serves[1]?.['template'], 'qwen3');
    assert.equal((s['env'] as Record<string, string>)['SGLANG_LOG_LEVEL'], 'debug');
    assert.equal(s['host'], '127.0.0.1');
    assert.equal(s['ready_timeout_seconds'], 1800);
  });

  it('a plan without servers has no serves key, exactly as before', async () => {
    const plain = rig.write('pipelines/plain.yaml', `${yaml.slice(0, yaml.indexOf('  - id: policy_server'))}`);
    const r = await rig.cli(['round', '--n', '1', '--dry-run', '--json', '--pipeline', plain, '--run-dir', 'run2'], env);
    assert.equal(r.exitCode, 0, r.all);
    assert.ok(!('serves' in (JSON.parse(r.stdout) as object)));
    const text = await rig.cli(['round', '--n', '1', '--dry-run', '--pipeline', plain, '--run-dir', 'run2'], env);
    assert.doesNotMatch(text.stdout, /servers/);
  });
});
