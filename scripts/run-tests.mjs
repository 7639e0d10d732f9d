#!/usr/bin/env node
// Runs the compiled tests (dist/test/**/*.test.js) with node's test runner, one file at a time
// (the Docker tests share one engine). --unit: no Docker, no LLaMA-Factory; --e2e: the real LLaMA-Factory tier only.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const all = readdirSync(root, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => join(root, f))
  .sort();
const isE2e = (f) => f.includes('/e2e/');
const needsDocker = (f) => /docker|resume-crash|round-/.test(f);
const mode = process.argv[2] ?? '';
let files;
if (mode === '--e2e') files = all.filter(isE2e);
else if (mode === '--unit') files = all.filter((f) => !isE2e(f) && !needsDocker(f));

else files = all; // the e2e tier skips itself, with the reason, where the LLaMA-Factory venv is missing
if (files.length === 0) {
  console.error('no test files found: run `npm run build` first');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
