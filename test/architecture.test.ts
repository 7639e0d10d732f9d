import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../src/util/project-root.js';

// ARCHITECTURE.md's rules, held by CI: short functions and files, imports only downwards, no cycles.
describe('the shape of src/ (scripts/check-architecture.mjs)', () => {
  it('has no function over 80 lines, no file over 350 lines, no upward import and no import cycle', async () => {
    const r = await execa(process.execPath, [join(projectRoot, 'scripts', 'check-architecture.mjs'), '--json'], { reject: false });
    const report = JSON.parse(r.stdout) as { files: number; problems: Record<string, unknown[]> };
    assert.ok(report.files > 50, `measured ${report.files} files`);
    for (const [rule, found] of Object.entries(report.problems)) assert.deepEqual(found, [], `${rule}: ${JSON.stringify(found, null, 1)}`);
    assert.equal(r.exitCode, 0);
  });
});
