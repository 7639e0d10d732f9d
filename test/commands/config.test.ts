import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('config');
before(async () => {
  await rig.demo();
});
after(() => rig.cleanup());

describe('flux-train config --out', () => {
  it('refuses an --out that is a regular file, naming it (was EEXIST, exit 70)', async () => {
    rig.write('taken', 'a file\n');
    const r = await rig.cli(['config', '--pipeline', 'pipelines/demo.yaml', '--n', '1', '--out', 'taken']);
    assert.equal(r.exitCode, 2, r.all);
    assert.match(r.all, /--out taken is a file/);
    assert.doesNotMatch(r.all, /internal error|\n\s+at /);
  });

  it('refuses an --out below a regular file (was ENOTDIR, exit 70)', async () => {
    rig.write('plain', 'a file\n');
    const r = await rig.cli(['config', '--pipeline', 'pipelines/demo.yaml', '--n', '1', '--out', 'plain/cfg']);
    assert.equal(r.exitCode, 2, r.all);
    assert.match(r.all, /cannot create --out plain\/cfg .*a file is in the way/);
  });

  it('refuses an --out it may not write, naming the path', { skip: process.getuid?.() === 0 ? 'root ignores permissions' : false }, async () => {
    mkdirSync(rig.path('locked'), { mode: 0o500 });
    const r = await rig.cli(['config', '--pipeline', 'pipelines/demo.yaml', '--n', '1', '--out', 'locked/cfg']);
    assert.equal(r.exitCode, 2, r.all);
    assert.match(r.all, /locked\/cfg/);
  });

  it('writes into a new folder', async () => {
    const r = await rig.cli(['config', '--pipeline', 'pipelines/demo.yaml', '--n', '1', '--out', 'cfg']);
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.all, /wrote .*cfg\/run\.sh/);
  });
});
