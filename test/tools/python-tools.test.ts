import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { projectRoot } from '../../src/util/project-root.js';

/**
 * The Python reference programs (tools/: pair miner, evaluator) have their own stdlib unittest suite; this
 * runs it so `npm test` fails when they do. Their real-server tier is test/e2e/tools-real-server.test.ts.
 */
it('the Python tools pass their unit tests (answer checking, retries, pairs, formats, seeds, failures)', () => {
  const tools = join(projectRoot, 'tools');
  const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', join(tools, 'tests'), '-t', tools], {
    cwd: tools,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(r.error, undefined, `python3 could not be run: ${String(r.error)}`);
  assert.equal(r.status, 0, r.stderr);
  const ran = /Ran (\d+) tests?/.exec(r.stderr);
  assert.ok(ran && Number(ran[1]) >= 30, `expected the whole suite to run, got: ${r.stderr.slice(-500)}`);
  assert.doesNotMatch(r.stderr, /skipped/, 'no unit test may skip itself');
});
