import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { it } from 'node:test';
import { sleep } from '../../src/util/sleep.js';

it('a loop of sleeps on one signal leaves no abort listener behind (a server waiting for GPUs sleeps on the run’s interrupt)', async () => {
  const c = new AbortController();
  for (let i = 0; i < 20; i++) await sleep(1, c.signal);
  assert.equal(getEventListeners(c.signal, 'abort').length, 0);
});

it('an abort ends the wait at once, and an aborted signal does not wait at all', async () => {
  const c = new AbortController();
  const t0 = Date.now();
  const p = sleep(60_000, c.signal);
  c.abort();
  await p;
  await sleep(60_000, c.signal);
  assert.ok(Date.now() - t0 < 1000);
});
