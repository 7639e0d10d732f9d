import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { projectRoot } from '../../src/util/project-root.js';

/**
 * The pair miner and the evaluator (tools/) against two real `llamafactory-cli api` servers on CPU with a
 * tiny random Qwen3: non-empty pairs from the `mentions` verifier, metrics for the fixture benchmarks, and
 * no server left listening. Needs the venv from scripts/setup-llamafactory-venv.sh.
 */
const VENV = process.env['LLAMAFACTORY_VENV'] ?? join(homedir(), '.cache', 'flux-train', 'llamafactory-0.9.5-venv');
const skip = existsSync(join(VENV, 'bin', 'llamafactory-cli')) ? false : `no LLaMA-Factory venv at ${VENV}: run bash scripts/setup-llamafactory-venv.sh`;
if (skip && process.env['CI'] === 'true' && process.env['FLUX_E2E'] === '1') throw new Error(String(skip));

it('the pair miner and the evaluator work against real llamafactory-cli api servers', { skip }, () => {
  const tools = join(projectRoot, 'tools');
  const r = spawnSync('python3', ['-m', 'unittest', '-v', 'tests.e2e_real_server'], {
    cwd: tools,
    env: { ...process.env, LLAMAFACTORY_VENV: VENV },
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Ran 2 tests/);
  assert.doesNotMatch(r.stderr, /skipped/);
});
