import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEEPSPEED_PRESETS, resolveDeepspeed } from '../../src/pipeline/deepspeed.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('deepspeed');
after(() => rig.cleanup());

describe('resolveDeepspeed', () => {
  it('resolves every shipped preset to a JSON object file', () => {
    for (const name of Object.keys(DEEPSPEED_PRESETS)) assert.ok(resolveDeepspeed(name, rig.dir).ok, name);
  });

  it('resolves a path relative to the pipeline folder', () => {
    rig.write('ds.json', '{"train_batch_size": "auto"}');
    const r = resolveDeepspeed('ds.json', rig.dir);
    assert.equal(r.ok && r.value, rig.path('ds.json'));
  });

  it('does not take names from Object.prototype as presets', () => {
    const r = resolveDeepspeed('constructor', rig.dir);
    assert.equal(!r.ok && r.error.code, 'missing-file');
  });

  it('refuses empty, missing, folder, device, non-JSON and non-object configs', () => {
    rig.write('num.json', '42');
    rig.write('null.json', 'null');
    for (const [v, code, msg] of [
      ['', 'missing-file', /empty/],
      ['nope.json', 'missing-file', /not found/],
      ['.', 'deepspeed-config', /folder/],
      ['/dev/zero', 'deepspeed-config', /character device/],
      ['/etc/hostname', 'deepspeed-config', /not JSON|not a JSON object/],
      ['num.json', 'deepspeed-config', /holds a number/],
      ['null.json', 'deepspeed-config', /holds null/],
    ] as const) {
      const r = resolveDeepspeed(v, rig.dir);
      assert.equal(r.ok, false, v);
      if (!r.ok) {
        assert.equal(r.error.code, code, v);
        assert.match(r.error.message, msg, v);
      }
    }
  });
});
