import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deviceRequests, parseSize, startFailure } from '../../src/backends/docker-engine.js';

describe('the Docker Engine vocabulary', () => {
  it('maps the engine\'s start errors to generic causes, and leaves the rest to the log', () => {
    assert.equal(startFailure('could not select device driver "" with capabilities: [[gpu]]').cause, 'no-gpu-runtime');
    assert.equal(startFailure('No such image: x:1').cause, 'image-missing');
    assert.equal(startFailure('pull access denied for x, repository does not exist').cause, 'image-missing');
    const other = startFailure('Conflict. The container name "/x" is already in use');
    assert.equal(other.cause, undefined);
    assert.equal(other.message, 'Conflict. The container name "/x" is already in use');
  });

  it('reads sizes and GPU requests as the engine wants them', () => {
    assert.equal(parseSize('16g'), 16 * 1024 ** 3);
    assert.equal(parseSize('512m'), 512 * 1024 ** 2);
    assert.equal(parseSize('bogus'), 0);
    assert.deepEqual(deviceRequests('none'), []);
    assert.deepEqual(deviceRequests(2), [{ Driver: '', Count: 2, Capabilities: [['gpu']] }]);
    assert.deepEqual(deviceRequests('0,1'), [{ Driver: '', DeviceIDs: ['0', '1'], Capabilities: [['gpu']] }]);
  });
});
