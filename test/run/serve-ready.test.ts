import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { describe, it } from 'node:test';
import { freePort, waitUntilServing } from '../../src/run/serve-ready.js';

/** A stand-in OpenAI server: 503 until `readyAfterMs`, then GET /v1/models lists `ids`. */
async function fakeServer(ids: string[], readyAfterMs: number): Promise<{ server: Server; baseUrl: string }> {
  const t0 = Date.now();
  const server = createServer((req, res) => {
    if (req.url !== '/v1/models') return void res.writeHead(404).end();
    if (Date.now() - t0 < readyAfterMs) return void res.writeHead(503).end('loading');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: ids.map((id) => ({ id, object: 'model' })) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  assert.ok(typeof a === 'object' && a !== null);
  return { server, baseUrl: `http://127.0.0.1:${a.port}/v1` };
}

const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

describe('waitUntilServing', () => {
  it('is ready only once /v1/models lists the model, not when the port answers', async () => {
    const { server, baseUrl } = await fakeServer(['r1-proposer'], 600);
    try {
      const r = await waitUntilServing({ baseUrl, model: 'r1-proposer', timeoutMs: 10_000, pollMs: 100, alive: () => true });
      assert.equal(r.kind, 'ready');
      assert.ok(r.kind === 'ready' && r.afterMs >= 500, `ready after ${r.kind === 'ready' ? r.afterMs : '?'} ms`);
    } finally {
      await close(server);
    }
  });

  it('times out on a server that lists another model, saying what it lists', async () => {
    const { server, baseUrl } = await fakeServer(['gpt-3.5-turbo'], 0);
    try {
      const r = await waitUntilServing({ baseUrl, model: 'r1-proposer', timeoutMs: 400, pollMs: 100, alive: () => true });
      assert.equal(r.kind, 'timeout');
      assert.match(r.kind === 'timeout' ? r.lastSeen : '', /lists "gpt-3\.5-turbo", not "r1-proposer"/);
    } finally {
      await close(server);
    }
  });

  it('reports a server process that died before it was ready, with what it last saw', async () => {
    const port = await freePort(new Set());
    assert.ok(port.ok);
    const child = spawn('sh', ['-c', 'sleep 0.3; exit 3']);
    const r = await waitUntilServing({ baseUrl: `http://127.0.0.1:${port.value}/v1`, model: 'm', timeoutMs: 20_000, pollMs: 100, alive: () => child.exitCode === null && child.signalCode === null });
    assert.equal(r.kind, 'died');
    assert.match(r.kind === 'died' ? r.lastSeen : '', /ECONNREFUSED/);
    assert.equal(child.exitCode, 3);
  });

  it('stops waiting when aborted', async () => {
    const port = await freePort(new Set());
    assert.ok(port.ok);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await waitUntilServing({ baseUrl: `http://127.0.0.1:${port.value}/v1`, model: 'm', timeoutMs: 20_000, pollMs: 50, alive: () => true, signal: ac.signal });
    assert.equal(r.kind, 'aborted');
  });
});

describe('freePort', () => {
  it('gives a bindable port that none of the held ones is', async () => {
    const held = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const p = await freePort(held);
      assert.ok(p.ok);
      assert.ok(!held.has(p.value));
      held.add(p.value);
    }
    // the port really is free: a server binds it
    const { server } = await fakeServer([], 0);
    await close(server);
    const p = await freePort(held);
    assert.ok(p.ok);
    const s = createServer();
    await new Promise<void>((r, j) => s.once('error', j).listen(p.value, '127.0.0.1', r));
    await close(s);
  });

  it('names the cause when the host cannot bind', async () => {
    const p = await freePort(new Set(), '192.0.2.1');
    assert.equal(p.ok, false);
    assert.match(p.ok ? '' : p.error, /cannot bind a port on 192\.0\.2\.1: EADDRNOTAVAIL/);
  });
});
