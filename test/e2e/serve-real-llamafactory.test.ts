import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { serveLaunch } from '../../src/planner/serve-engines.js';
import { freePort, waitUntilServing } from '../../src/run/serve-ready.js';
import { projectRoot } from '../../src/util/project-root.js';
import { listening } from '../helpers/rig.js';

/**
 * The serve stage's building blocks against the real `llamafactory-cli api` on CPU: the launch of
 * src/planner/serve-engines, readiness by src/run/serve-ready, a stop by the process group that leaves
 * no port listening, and a server that never gets ready (a missing model) reported as dead with its log.
 */
const VENV = process.env['LLAMAFACTORY_VENV'] ?? join(homedir(), '.cache', 'flux-train', 'llamafactory-0.9.5-venv');
const skip = existsSync(join(VENV, 'bin', 'llamafactory-cli')) ? false : `no LLaMA-Factory venv at ${VENV}: run bash scripts/setup-llamafactory-venv.sh`;
if (skip && process.env['CI'] === 'true' && process.env['FLUX_E2E'] === '1') throw new Error(String(skip));

const dir = mkdtempSync(join(tmpdir(), 'flux-serve-real-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function start(model: string, name: string): Promise<{ child: ChildProcess; port: number; log: string }> {
  const port = await freePort(new Set());
  assert.ok(port.ok);
  const configPath = join(dir, `${name}.yaml`);
  const launch = serveLaunch({ engine: 'llamafactory', model, servedName: name, port: port.value, host: '127.0.0.1', tensorParallel: 1, template: 'qwen3', configPath, extraArgs: [] });
  assert.ok(launch.ok);
  writeFileSync(configPath, launch.value.config ?? '');
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'w');
  const [cmd, ...args] = launch.value.command;
  const child = spawn(join(VENV, 'bin', cmd as string), args, { env: { ...process.env, ...launch.value.env }, stdio: ['ignore', fd, fd], detached: true });
  return { child, port: port.value, log };
}

const alive = (c: ChildProcess) => () => c.exitCode === null && c.signalCode === null;
const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

describe('llamafactory-cli api as the serve stage starts it', { skip }, () => {
  it('is ready when /v1/models lists the served name, and a stop of its group leaves nothing listening', async () => {
    const model = join(dir, 'tiny-qwen3');
    const made = spawnSync(join(VENV, 'bin', 'python'), [join(projectRoot, 'scripts', 'make-tiny-model.py'), model], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const s = await start(model, 'r1-proposer');
    try {
      const r = await waitUntilServing({ baseUrl: `http://127.0.0.1:${s.port}/v1`, model: 'r1-proposer', timeoutMs: 240_000, pollMs: 250, alive: alive(s.child) });
      assert.equal(r.kind, 'ready', `${JSON.stringify(r)}\n${readFileSync(s.log, 'utf8').slice(-2000)}`);
    } finally {
      if (alive(s.child)()) process.kill(-(s.child.pid as number), 'SIGTERM');
      await exited(s.child);
    }
    assert.equal(await listening(s.port), false, `port ${s.port} still listening after the stop`);
  });

  it('reports a server that never gets ready (no such model) as dead, and its log says why', async () => {
    const s = await start(join(dir, 'no-such-model'), 'r1-missing');
    try {
      const r = await waitUntilServing({ baseUrl: `http://127.0.0.1:${s.port}/v1`, model: 'r1-missing', timeoutMs: 240_000, pollMs: 250, alive: alive(s.child) });
      assert.equal(r.kind, 'died', JSON.stringify(r));
      assert.match(r.kind === 'died' ? r.lastSeen : '', /ECONNREFUSED/);
    } finally {
      if (alive(s.child)()) process.kill(-(s.child.pid as number), 'SIGKILL');
      await exited(s.child);
    }
    assert.match(readFileSync(s.log, 'utf8'), /Failed to load tokenizer|does not appear to have|not a local folder|OSError/);
  });
});
