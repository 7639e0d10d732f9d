import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../../src/util/project-root.js';
import { sameProcessAlive } from '../../src/util/proc.js';
import { BIN, Rig, waitFor, listening } from '../helpers/rig.js';
import { Terminal, tmuxReady } from '../helpers/tmux.js';
import type { RunEvent } from '../../src/run/events.js';
import { standinEnv } from '../helpers/standin-env.js';

/**
 * Servers through the whole CLI with the local backend and the stand-in `llamafactory-cli api`
 * (docker/standin/llamafactory-api.py, strict like the real one, with fault injection): up for their
 * consumers, stopped after them, and the failures a person meets: a server that never gets ready, one
 * that dies mid-sampling, and a CLI killed while a server and its sampler run.
 */

const PIPELINE = (o: { timeout?: number; consumers?: string; retries?: number } = {}) => `
name: serve-test
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
backend: local
gpus: none
models: {tiny: ./model}
datasets: {}
retries: {max_attempts: ${o.retries ?? 1}, backoff_seconds: 0}
stages:
  - id: srv
    kind: serve
    engine: llamafactory
    template: qwen3
    model: {base: tiny}
    served_name: tiny
    ready_timeout_seconds: ${o.timeout ?? 30}
${o.consumers ?? MINER}
`;

const MINER = `
  - id: mine
    kind: command
    endpoints: {proposer: srv, reasoner: srv}
    command: [python3, "{tools}/mine_pairs.py", --problems, "{tools}/fixtures/tiny-problems.jsonl", --verifier, mentions, -k, "2", -n, "2", --concurrency, "1", --max-attempts, "2", --backoff, "0.1", --quiet]
    outputs: [dpo_proposer.jsonl, dpo_reasoner.jsonl, summary.json]
`;

/** A consumer that asks the server after a pause (so a test can kill the CLI meanwhile) and records what it saw. */
const SLOW = `
  - id: slow
    kind: command
    endpoints: {llm: srv}
    command: [python3, "{pipeline_dir}/slow.py"]
    outputs: [seen.json]
  - id: check
    kind: command
    after: [slow]
    endpoints: {llm: srv}
    command: [python3, "{pipeline_dir}/slow.py", "0"]
    outputs: [seen.json]
`;

const SLOW_PY = `import json, os, sys, time, urllib.request
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 6)
url = os.environ["FLUX_ENDPOINT_LLM"]
seen = json.load(urllib.request.urlopen(url + "/models", timeout=10))
json.dump({"url": url, "model": os.environ["FLUX_MODEL_LLM"], "listed": [m["id"] for m in seen["data"]]}, open(os.path.join(os.environ["FLUX_OUTPUT_DIR"], "seen.json"), "w"))
`;

function setUp(rig: Rig, yaml: string): string[] {
  const env = rig.path('env');
  mkdirSync(join(env, 'bin'), { recursive: true });
  if (!existsSync(join(env, 'bin', 'llamafactory-cli'))) symlinkSync(join(projectRoot, 'docker', 'standin', 'llamafactory-cli'), join(env, 'bin', 'llamafactory-cli'));
  rig.write('model/config.json', '{}');
  rig.write('model/model.safetensors', '');
  rig.write('slow.py', SLOW_PY);
  rig.write('p.yaml', yaml);
  return ['--pipeline', 'p.yaml', '--run-dir', 'run', '--local-env', env];
}

const noTmux = await tmuxReady();

/** Starts `round`, waits for an event, and SIGKILLs the CLI there: what a crash or a lost terminal leaves behind. */
async function killWhen(r: Rig, args: string[], until: (e: RunEvent) => boolean, what: string): Promise<void> {
  const cli = execa(process.execPath, [BIN, 'round', '--n', '1', ...args], { cwd: r.dir, env: { FLUX_TRAIN_RENDERER: 'plain' }, reject: false });
  await waitFor(() => r.events().some(until), 30_000, what);
  cli.kill('SIGKILL');
  await cli;
}

/** Every server the run started has ended: no process left, nothing listening on its port. */
async function assertNoServerLeft(rig: Rig): Promise<void> {
  for (const e of rig.eventsOf('serve-starting')) assert.equal(await listening(e.port), false, `port ${e.port} of ${e.key} attempt ${e.attempt} still listens`);
  for (const e of rig.eventsOf('serve-started')) {
    const p = e.handle.backend === 'local' ? e.handle.process : undefined;
    assert.ok(p !== undefined);
    assert.equal(sameProcessAlive(p.pid, p.startTime), false, `server process ${p.pid} of ${e.key} is alive`);
  }
}

describe('serve stages on the local backend', () => {
  const rigs: Rig[] = [];
  const rig = (name: string) => (rigs.push(new Rig(name)), rigs[rigs.length - 1] as Rig);
  after(() => {
    // a failed assertion must not leave a server behind on a shared machine
    for (const r of rigs) {
      for (const e of r.eventsOf('serve-started')) if (e.handle.backend === 'local' && sameProcessAlive(e.handle.process.pid, e.handle.process.startTime)) process.kill(-e.handle.process.pid, 'SIGKILL');
      r.cleanup();
    }
  });

  it('starts the server for its consumer, hands it FLUX_ENDPOINT/FLUX_MODEL, and stops it after the last consumer', async () => {
    const r = rig('serve-ok');
    const args = setUp(r, PIPELINE({ consumers: `${MINER}${SLOW.replace('"{pipeline_dir}/slow.py"]', '"{pipeline_dir}/slow.py", "0"]')}` }));
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 0, res.all);
    assert.equal(r.eventsOf('serve-starting').length, 1, 'one server for three consumers');
    const ready = r.eventsOf('serve-ready')[0];
    assert.ok(ready);
    const seen = JSON.parse(r.read('run/outputs/r1/check/seen.json')) as { url: string; model: string; listed: string[] };
    assert.deepEqual(seen, { url: ready.url, model: 'tiny', listed: ['tiny'] });
    const summary = JSON.parse(r.read('run/outputs/r1/mine/summary.json')) as { pairs: { proposer: number; reasoner: number } };
    assert.ok(summary.pairs.reasoner > 0, 'the miner made pairs from the stand-in server');
    // stopped after the last consumer, not before
    const events = r.events();
    const stopAt = events.findIndex((e) => e.type === 'serve-stopped');
    const lastFinish = events.map((e) => e.type === 'stage-finished').lastIndexOf(true);
    assert.ok(stopAt > lastFinish, 'the server stops after its consumers finished');
    assert.equal(r.state().serves?.['r1/srv']?.status, 'stopped');
    assert.match(r.read('run/logs/r1-srv.attempt1.log'), /Uvicorn running on http:\/\/127\.0\.0\.1:/);
    await assertNoServerLeft(r);
    // a rerun of the finished run starts no server at all
    const again = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(again.exitCode, 0, again.all);
    assert.equal(r.eventsOf('serve-starting').length, 1, 'nothing to consume, nothing served');
  });

  it('a server that never lists its model fails its consumer with the server log as evidence, and is stopped', async () => {
    const r = rig('serve-never');
    const args = setUp(r, PIPELINE({ timeout: 2 }));
    r.write('run/standin-control/serve-tiny', 'never_ready=1\n');
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 1, res.all);
    const failed = r.eventsOf('stage-failed')[0];
    assert.equal(failed?.cause, 'serve-not-ready');
    assert.equal(failed?.willRetry, false);
    assert.match(failed?.message ?? '', /r1\/srv was not ready after \d+ s \(ready_timeout_seconds: 2\); last answer: GET \/v1\/models lists no model, not "tiny"/);
    assert.ok(failed?.evidence.some((l) => l.includes('logs/r1-srv.attempt1.log')), 'the evidence names the server log');
    assert.match(res.all, /ready_timeout_seconds/);
    assert.equal(r.eventsOf('serve-failed')[0]?.reason, 'timeout');
    await assertNoServerLeft(r);
  });

  it('a server that dies before it is ready (no model) names the engine’s own error', async () => {
    const r = rig('serve-nomodel');
    const args = setUp(r, PIPELINE().replace('./model', './no-such-model'));
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 1, res.all);
    const failed = r.eventsOf('serve-failed')[0];
    assert.equal(failed?.reason, 'died');
    assert.ok(failed?.evidence.some((l) => /OSError: Failed to load tokenizer/.test(l)), JSON.stringify(failed?.evidence));
    assert.equal(r.eventsOf('stage-failed')[0]?.cause, 'serve-not-ready');
    await assertNoServerLeft(r);
  });

  it('a server that dies mid-sampling fails the attempt as serve-died; the retry brings a new server up and finishes', async () => {
    const r = rig('serve-dies');
    const args = setUp(r, PIPELINE({ retries: 2 }));
    r.write('run/standin-control/serve-tiny', 'die_after=5 once=1\n');
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 0, res.all);
    const died = r.eventsOf('serve-failed')[0];
    assert.equal(died?.reason, 'died');
    assert.match(died?.message ?? '', /r1\/srv ended \(exit code 1\) while r1\/mine used it/);
    assert.ok(died?.evidence.some((l) => l.includes('stand-in server crashed after 5 requests')));
    const failed = r.eventsOf('stage-failed')[0];
    assert.equal(failed?.cause, 'serve-died');
    assert.equal(failed?.willRetry, true);
    assert.deepEqual(r.eventsOf('serve-starting').map((e) => e.attempt), [1, 2], 'the retry started the server again, as attempt 2');
    assert.notEqual(r.eventsOf('serve-starting')[0]?.port, r.eventsOf('serve-starting')[1]?.port);
    assert.equal(r.state().serves?.['r1/srv']?.starts, 2);
    assert.equal(r.state().stages['r1/mine']?.status, 'done');
    await assertNoServerLeft(r);
  });

  it('a CLI killed while the server and its sampler run: the rerun re-attaches to both and starts no second server', async () => {
    const r = rig('serve-kill');
    const args = setUp(r, PIPELINE({ consumers: SLOW }));
    await killWhen(r, args, (e) => e.type === 'stage-started' && e.key === 'r1/slow', 'the sampler to start');
    const server = r.eventsOf('serve-started')[0];
    assert.ok(server?.handle.backend === 'local');
    assert.equal(sameProcessAlive(server.handle.process.pid, server.handle.process.startTime), true, 'the server outlives the CLI');
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 0, res.all);
    assert.equal(r.eventsOf('serve-starting').length, 1, 'no second server');
    assert.ok(r.eventsOf('stage-reattached').some((e) => e.key === 'r1/slow'), 'the sampler was re-attached');
    assert.equal(r.eventsOf('serve-reused').length, 1, 'the server was found again');
    const url = r.eventsOf('serve-ready')[0]?.url;
    for (const k of ['slow', 'check']) assert.equal((JSON.parse(readFileSync(join(r.runDir, 'outputs/r1', k, 'seen.json'), 'utf8')) as { url: string }).url, url);
    await assertNoServerLeft(r);
  });

  it('a killed CLI, then its server dies too: the re-attached sampler fails as serve-died and its retry brings a server up', async () => {
    const r = rig('serve-kill-both');
    const args = setUp(r, PIPELINE({ consumers: SLOW, retries: 2 }));
    await killWhen(r, args, (e) => e.type === 'stage-started' && e.key === 'r1/slow', 'the sampler to start');
    const server = r.eventsOf('serve-started')[0];
    assert.ok(server?.handle.backend === 'local');
    process.kill(-server.handle.process.pid, 'SIGKILL');
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 0, res.all);
    const failed = r.eventsOf('stage-failed').find((e) => e.key === 'r1/slow');
    assert.equal(failed?.cause, 'serve-died', res.all);
    assert.match(failed?.evidence[0] ?? '', /r1\/srv was not running when r1\/slow was re-attached/);
    assert.deepEqual(r.eventsOf('serve-starting').map((e) => e.attempt), [1, 2]);
    await assertNoServerLeft(r);
  });

  it('a server a killed CLI left for another configuration is stopped when the next run starts, before anything runs', async () => {
    const r = rig('serve-sweep');
    const args = setUp(r, PIPELINE({ consumers: SLOW }));
    await killWhen(r, args, (e) => e.type === 'stage-started' && e.key === 'r1/slow', 'the sampler to start');
    // another served name: another server; the sampler too was started with the old one
    writeFileSync(r.path('p.yaml'), PIPELINE({ consumers: SLOW }).replace('served_name: tiny', 'served_name: tiny2'));
    const blocked = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(blocked.exitCode, 1, blocked.all);
    assert.match(blocked.all, /r1\/slow: blocked: a job of an older configuration .* is still running/);
    assert.equal(r.eventsOf('serve-stopped').length, 0, 'the old server stays while the old sampler still uses it');
    const old = r.eventsOf('stage-started').find((e) => e.key === 'r1/slow');
    await waitFor(() => old?.handle.backend === 'local' && !sameProcessAlive(old.handle.process.pid, old.handle.process.startTime), 30_000, 'the old sampler to end');
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 0, res.all);
    const second = r.events().slice(r.events().findLastIndex((e) => e.type === 'run-started'));
    const firstServe = second.find((e) => e.type.startsWith('serve-'));
    assert.equal(firstServe?.type, 'serve-stopped');
    assert.match(firstServe?.type === 'serve-stopped' ? firstServe.reason : '', /another configuration/);
    assert.ok(second.findIndex((e) => e.type === 'serve-stopped') < second.findIndex((e) => e.type === 'stage-starting'), 'stopped before any stage starts');
    await assertNoServerLeft(r);
  });

  it('a killed CLI leaves a server no stage needs any more: the next run stops it', async () => {
    const r = rig('serve-orphan');
    const args = setUp(r, PIPELINE({ consumers: SLOW }));
    await killWhen(r, args, (e) => e.type === 'serve-ready', 'the server to be ready');
    // the consumers change so they no longer need the server: it is left over
    writeFileSync(r.path('p.yaml'), PIPELINE({ consumers: '  - {id: other, kind: command, command: ["true"]}' }));
    const res = await r.cli(['round', '--n', '1', ...args]);
    assert.equal(res.exitCode, 0, res.all);
    assert.match(r.eventsOf('serve-stopped')[0]?.reason ?? '', /no stage needs it now/);
    await assertNoServerLeft(r);
  });

  it('--detach: Ctrl-C leaves the server up for its one running consumer, and resume re-attaches to both', async () => {
    const r = rig('serve-detach');
    const args = setUp(r, PIPELINE({ consumers: SLOW.split('  - id: check')[0] }));
    const first = execa(process.execPath, [BIN, 'round', '--n', '1', '--detach', ...args], { cwd: r.dir, env: { FLUX_TRAIN_RENDERER: 'plain' }, reject: false });
    await waitFor(() => r.events().some((e) => e.type === 'stage-started' && e.key === 'r1/slow'), 30_000, 'the sampler to start');
    first.kill('SIGINT');
    assert.equal((await first).exitCode, 130);
    assert.deepEqual(r.eventsOf('serve-stopped'), [], 'the detached consumer still needs its server');
    const server = r.eventsOf('serve-started')[0];
    assert.ok(server?.handle.backend === 'local');
    assert.equal(sameProcessAlive(server.handle.process.pid, server.handle.process.startTime), true, 'the server outlives the CLI');
    const res = await r.cli(['resume', '--run-dir', 'run']);
    assert.equal(res.exitCode, 0, res.all);
    assert.equal(r.eventsOf('serve-starting').length, 1, 'no second server');
    assert.equal(r.state().stages['r1/slow']?.attempts.length, 1, 'the sampler finished in its first attempt');
    assert.equal((JSON.parse(r.read('run/outputs/r1/slow/seen.json')) as { url: string }).url, r.eventsOf('serve-ready')[0]?.url);
    await assertNoServerLeft(r);
  });

  it('a server an earlier CLI left is not re-used once its model is trained again (--restart-stage): the next consumer gets a new server', async () => {
    const r = rig('serve-retrained');
    await r.demo((y) => `${y.slice(0, y.indexOf('datasets:'))}datasets:\n  ReasonFlux-v2-sft: {path: ../.demo/data/sft.jsonl}\n${y.slice(y.indexOf('defaults:'), y.indexOf('stages:')).replace('network: none', 'network: host')}stages:
  - id: proposer_sft
    kind: train
    stage: sft
    model: {base: tiny}
    datasets: [ReasonFlux-v2-sft]
    args: {learning_rate: 1.0e-5, num_train_epochs: 1.0}
  - id: srv
    kind: serve
    engine: llamafactory
    template: qwen3
    model: {stage: proposer_sft}
    served_name: tiny
${SLOW}`, 8);
    r.write('pipelines/slow.py', SLOW_PY);
    const { env, keys } = await standinEnv(r);
    const args = ['--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run', '--backend', 'local', '--local-env', env];
    const first = execa(process.execPath, [BIN, 'round', '--n', '1', ...args], { cwd: r.dir, env: { FLUX_TRAIN_RENDERER: 'plain', STANDIN_KEYS: keys }, reject: false });
    await waitFor(() => r.events().some((e) => e.type === 'stage-started' && e.key === 'r1/slow'), 60_000, 'the sampler to start');
    first.kill('SIGKILL');
    await first;
    const res = await r.cli(['round', '--n', '1', ...args, '--restart-stage', 'proposer_sft'], { STANDIN_KEYS: keys });
    assert.equal(res.exitCode, 0, res.all);
    const trained = r.events().filter((e) => e.type === 'stage-finished' && e.key === 'r1/proposer_sft').map((e) => e.ts);
    assert.equal(trained.length, 2, 'trained again');
    const starts = r.eventsOf('serve-starting');
    assert.equal(starts.length, 2, 'a new server for the retrained model');
    assert.ok((starts[1]?.ts ?? '') > (trained[1] ?? ''), 'started after the model was trained again');
    const second = r.eventsOf('serve-ready').find((e) => e.attempt === 2);
    assert.equal((JSON.parse(r.read('run/outputs/r1/check/seen.json')) as { url: string }).url, second?.url, 'the consumer after the retraining used the new server');
    await assertNoServerLeft(r);
  });

  it('a server kept for a later consumer gives up its GPUs to another server that needs them, instead of both waiting for ever', async () => {
    const r = rig('serve-gpu-idle');
    const server = (id: string) => `  - {id: ${id}, kind: serve, engine: llamafactory, template: qwen3, model: {base: tiny}, served_name: ${id}, gpus: 1}\n`;
    const consumer = (id: string, srv: string) => `  - {id: ${id}, kind: command, endpoints: {llm: ${srv}}, command: [python3, "{pipeline_dir}/slow.py", "0"], outputs: [seen.json]}\n`;
    const yaml = PIPELINE({ consumers: `${server('b')}${consumer('a1', 'srv')}${consumer('b1', 'b')}${consumer('a2', 'srv')}` }).replace('gpus: none', 'gpus: 1').replace('    served_name: tiny\n', '    served_name: tiny\n    gpus: 1\n');
    const args = setUp(r, yaml);
    const res = await r.cli(['round', '--n', '1', ...args], {}, 60_000);
    assert.equal(res.timedOut, false, `hung: ${res.all}`);
    assert.equal(res.exitCode, 0, res.all);
    for (const k of ['a1', 'b1', 'a2']) assert.equal(r.state().stages[`r1/${k}`]?.status, 'done', k);
    await assertNoServerLeft(r);
  });

  it('--detach: Ctrl-C keeps the server of the consumer left running and stops one that only waits for a later consumer', async () => {
    const r = rig('serve-detach-idle');
    const consumer = (id: string, srv: string, extra = '') => `  - {id: ${id}, kind: command, endpoints: {llm: ${srv}}, command: [python3, "{pipeline_dir}/slow.py", "${id === 'b1' ? 6 : 0}"], outputs: [seen.json]${extra}}\n`;
    const args = setUp(r, PIPELINE({ consumers: `  - {id: b, kind: serve, engine: llamafactory, template: qwen3, model: {base: tiny}, served_name: b}\n${consumer('a1', 'srv')}${consumer('b1', 'b')}${consumer('a2', 'srv', ', after: [b1]')}` }));
    const first = execa(process.execPath, [BIN, 'round', '--n', '1', '--detach', ...args], { cwd: r.dir, env: { FLUX_TRAIN_RENDERER: 'plain' }, reject: false });
    await waitFor(() => r.events().some((e) => e.type === 'stage-started' && e.key === 'r1/b1'), 30_000, 'b1 to start');
    first.kill('SIGINT');
    assert.equal((await first).exitCode, 130);
    const alive = (key: string) => r.eventsOf('serve-started').filter((e) => e.key === key).some((e) => e.handle.backend === 'local' && sameProcessAlive(e.handle.process.pid, e.handle.process.startTime));
    assert.equal(alive('r1/b'), true, 'b1 runs on and needs b');
    assert.equal(alive('r1/srv'), false, 'nothing running needs srv');
    const res = await r.cli(['resume', '--run-dir', 'run']);
    assert.equal(res.exitCode, 0, res.all);
    assert.equal(r.eventsOf('serve-reused').length, 1, 'b found again');
    await assertNoServerLeft(r);
  });

  describe('Ctrl-C at a terminal', { skip: noTmux }, () => {
    it('during the server load: exit 130 at once, the server stopped, the lock released', async () => {
      const r = rig('serve-tty-load');
      const args = setUp(r, PIPELINE({ consumers: SLOW }));
      r.write('run/standin-control/serve-tiny', 'load_ms=30000\n');
      const term = new Terminal(r.dir);
      try {
        await term.run(['round', '--n', '1', ...args]);
        await waitFor(() => r.eventsOf('serve-started').length > 0, 30_000, 'the server to start');
        await term.keys('C-c');
        assert.equal(await term.waitExit(20_000), 130, await term.screen());
        assert.match(await term.screen(), /next: flux-train resume/);
        assert.equal(existsSync(join(r.runDir, 'lock.json')), false);
        assert.equal(r.state().serves?.['r1/srv']?.status, 'stopped');
        assert.match(r.state().serves?.['r1/srv']?.stopReason ?? '', /interrupted/);
        await assertNoServerLeft(r);
      } finally {
        await term.close();
      }
    });

    it('a second Ctrl-C kills a server that holds its SIGTERM (a generation in flight) instead of waiting out the grace', async () => {
      const r = rig('serve-tty-kill');
      const args = setUp(r, PIPELINE({ consumers: SLOW }));
      r.write('run/standin-control/serve-tiny', 'term_ms=60000\n');
      const term = new Terminal(r.dir);
      try {
        await term.run(['round', '--n', '1', '--grace', '120', ...args]);
        await waitFor(() => r.events().some((e) => e.type === 'stage-started' && e.key === 'r1/slow'), 30_000, 'the sampler to start');
        await term.keys('C-c');
        await term.waitScreen(/press Ctrl-C again to kill it now/, 10_000);
        await waitFor(() => r.events().some((e) => e.type === 'stage-interrupted'), 20_000, 'the sampler to stop');
        const t0 = Date.now();
        await term.keys('C-c');
        assert.equal(await term.waitExit(20_000), 130, await term.screen());
        assert.ok(Date.now() - t0 < 15_000, 'not the 120 s grace');
        await assertNoServerLeft(r);
      } finally {
        await term.close();
      }
    });
  });
});
