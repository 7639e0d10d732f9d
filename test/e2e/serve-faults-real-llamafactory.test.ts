import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import type { RunEvent } from '../../src/run/events.js';
import { sameProcessAlive } from '../../src/util/proc.js';
import { projectRoot } from '../../src/util/project-root.js';
import { BIN, Rig, waitFor } from '../helpers/rig.js';

/**
 * Server faults through the CLI with the real `llamafactory-cli api` on CPU (local backend, the pinned
 * venv, the tiny Qwen3): a server that is not ready in time, and one killed while the pair miner
 * samples from it (the miner's attempt fails as serve-died, the retry starts a new server and finishes).
 */
const VENV = process.env['LLAMAFACTORY_VENV'] ?? join(homedir(), '.cache', 'flux-train', 'llamafactory-0.9.5-venv');
const skip = existsSync(join(VENV, 'bin', 'llamafactory-cli')) ? false : `no LLaMA-Factory venv at ${VENV}: run bash scripts/setup-llamafactory-venv.sh`;
if (skip && process.env['CI'] === 'true' && process.env['FLUX_E2E'] === '1') throw new Error(String(skip));

const PIPELINE = (timeout: number) => `
name: serve-faults
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
backend: local
gpus: none
models: {tiny: ../.cache/tiny-cpu/tiny-qwen3}
datasets: {}
retries: {max_attempts: 2, backoff_seconds: 0}
stages:
  - id: srv
    kind: serve
    engine: llamafactory
    template: qwen3
    model: {base: tiny}
    ready_timeout_seconds: ${timeout}
  - id: mine
    kind: command
    endpoints: {proposer: srv, reasoner: srv}
    command: [python3, "{tools}/mine_pairs.py", --problems, "{tools}/fixtures/tiny-problems.jsonl", --verifier, mentions, -k, "4", -n, "2", --proposer-max-tokens, "32", --reasoner-max-tokens, "32", --concurrency, "1", --max-attempts, "2", --backoff, "0.2", --quiet]
    outputs: [dpo_proposer.jsonl, dpo_reasoner.jsonl, summary.json]
`;

function serversAlive(rig: Rig): number[] {
  return rig.eventsOf('serve-started').flatMap((e) => (e.handle.backend === 'local' && sameProcessAlive(e.handle.process.pid, e.handle.process.startTime) ? [e.handle.process.pid] : []));
}

describe('server faults with the real llamafactory-cli api', { skip, timeout: 1_200_000 }, () => {
  const rig = new Rig('e2e-serve-faults');
  const args = (dir: string) => ['round', '--n', '1', '--pipeline', 'pipelines/p.yaml', '--run-dir', dir, '--local-env', VENV];
  before(async () => {
    await execa('bash', [join(projectRoot, 'scripts', 'make-tiny-cpu-fixtures.sh'), rig.path('.cache', 'tiny-cpu')], { env: { LLAMAFACTORY_VENV: VENV } });
  });
  after(() => {
    for (const pid of serversAlive(rig)) process.kill(-pid, 'SIGKILL');
    rig.cleanup();
  });

  it('a server not ready within ready_timeout_seconds fails the miner with the server log, and is stopped', async () => {
    rig.write('pipelines/p.yaml', PIPELINE(1));
    const r = await rig.cli(args('run'), {}, 300_000);
    assert.equal(r.exitCode, 1, r.all);
    const failed = rig.eventsOf('stage-failed')[0];
    assert.equal(failed?.cause, 'serve-not-ready');
    assert.match(failed?.message ?? '', /r1\/srv was not ready after \d+ s \(ready_timeout_seconds: 1\)/);
    assert.equal(rig.eventsOf('serve-failed')[0]?.reason, 'timeout');
    assert.deepEqual(serversAlive(rig), []);
  });

  it('a server killed mid-sampling: the attempt fails as serve-died, the retry starts a new server and the miner finishes', async () => {
    const dir = 'run-kill';
    const at = (f: string) => rig.path(dir, f);
    rig.write('pipelines/p.yaml', PIPELINE(300));
    const events = (): RunEvent[] => (existsSync(at('events.jsonl')) ? readFileSync(at('events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunEvent) : []);
    const cli = execa(process.execPath, [BIN, ...args(dir)], { cwd: rig.dir, env: { FLUX_TRAIN_RENDERER: 'plain' }, reject: false, all: true });
    // the miner has asked a few questions: its server is in use
    await waitFor(() => {
      const log = at('logs/r1-srv.attempt1.log');
      return existsSync(log) && (readFileSync(log, 'utf8').match(/POST \/v1\/chat\/completions/g) ?? []).length >= 3;
    }, 300_000, 'the miner to sample');
    const started = events().find((e): e is Extract<RunEvent, { type: 'serve-started' }> => e.type === 'serve-started');
    assert.ok(started?.handle.backend === 'local');
    process.kill(-started.handle.process.pid, 'SIGKILL');
    const r = await cli;
    assert.equal(r.exitCode, 0, r.all);
    const ev = events();
    const died = ev.find((e) => e.type === 'serve-failed');
    assert.ok(died?.type === 'serve-failed' && died.reason === 'died', JSON.stringify(died));
    const failed = ev.find((e) => e.type === 'stage-failed');
    assert.ok(failed?.type === 'stage-failed' && failed.cause === 'serve-died' && failed.willRetry, JSON.stringify(failed));
    assert.deepEqual(ev.filter((e) => e.type === 'serve-starting').map((e) => (e.type === 'serve-starting' ? e.attempt : 0)), [1, 2]);
    assert.ok(readdirSync(at('outputs/r1/mine')).includes('dpo_reasoner.jsonl'));
    const alive = ev.flatMap((e) => (e.type === 'serve-started' && e.handle.backend === 'local' && sameProcessAlive(e.handle.process.pid, e.handle.process.startTime) ? [e.handle.process.pid] : []));
    assert.deepEqual(alive, [], 'no server left');
  });
});
