import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { readRegularFile } from '../../src/pipeline/read-file.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('read-file');
after(() => rig.cleanup());

describe('readRegularFile', () => {
  it('reads a regular file within the limit', () => {
    const r = readRegularFile(rig.write('a.txt', 'hello'), 10, 'test file');
    assert.equal(r.ok && r.value.toString(), 'hello');
  });

  it('refuses a missing file, a folder, a FIFO and a device, without opening them', { timeout: 10_000 }, () => {
    const fifo = rig.path('fifo');
    execFileSync('mkfifo', [fifo]);
    const cases: [string, string, RegExp][] = [
      [rig.path('nope'), 'missing-file', /does not exist/],
      [rig.dir, 'not-a-file', /is a folder, not a file/],
      [fifo, 'not-a-file', /a FIFO/],
      ['/dev/zero', 'not-a-file', /a character device/],
    ];
    for (const [path, code, msg] of cases) {
      const r = readRegularFile(path, 1024, 'test file');
      assert.equal(r.ok, false, path);
      if (!r.ok) {
        assert.equal(r.error.code, code, path);
        assert.match(r.error.message, msg);
      }
    }
  });

  it('refuses a file over the limit by its size and while reading (files whose size lies)', () => {
    const r = readRegularFile(rig.write('big.txt', 'x'.repeat(2000)), 1000, 'test file');
    assert.equal(!r.ok && r.error.code, 'too-large');
    // /proc files report size 0 and yield more
    const p = readRegularFile('/proc/self/status', 16, 'test file');
    assert.equal(!p.ok && p.error.code, 'too-large');
  });
});
